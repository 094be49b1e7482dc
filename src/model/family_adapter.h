// One adapter per model family, behind one interface. PRIVATE to src/model/ (it includes
// ONNX Runtime through onnx_graph.h): SamModel is the public face.
//
// An adapter knows its family's convention end to end: the graph signature it recognises,
// how an image becomes the encoder input, which encoder outputs make the cached embedding,
// how prompts are encoded (frame, padding point, point limit, box corners), and how the
// decoder's outputs become low-resolution logits and scores. Detection compares the graphs
// with every family; the one with no difference is the model's family, and when none has
// none, the refusal names the closest (fewest differences) and what differs.
//
// Thread-safety: after Configure, Prepare, Encode and Decode may run on any threads at once.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/model_family.h"
#include "model/onnx_graph.h"
#include "model/preprocess.h"
#include "model/sam_model.h"
#include "model/session_pool.h"

namespace samcache {

// A model folder's two graphs, their signatures, and what model.json said about them.
struct ModelGraphs {
  std::string encoder_file;  // for messages: a path or "models/demo/encoder.onnx"
  std::string decoder_file;
  Ort::Session* encoder = nullptr;
  Ort::Session* decoder = nullptr;  // signatures only: the graph as the folder has it
  std::vector<TensorSpec> encoder_inputs;
  std::vector<TensorSpec> encoder_outputs;
  std::vector<TensorSpec> decoder_inputs;
  std::vector<TensorSpec> decoder_outputs;
  std::optional<EncoderLayout> layout_override;  // model.json "encoder_input"
};

// One way the graphs differ from a family's signature.
struct Difference {
  bool in_encoder = false;  // else in the decoder
  std::string text;         // e.g. "input 'orig_im_size' is float32, expected int64"
};

// What an adapter's Differences collects; an empty text (no difference) is skipped.
struct DifferenceList {
  std::vector<Difference> items;
  void Encoder(std::string text) {
    if (!text.empty()) items.push_back({true, std::move(text)});
  }
  void Decoder(std::string text) {
    if (!text.empty()) items.push_back({false, std::move(text)});
  }
};

// How the encoder's inputs differ from one input [1,3,1024,1024] (any name); "" when they don't.
std::string SquareImageInputDifference(const ModelGraphs& graphs);

class FamilyAdapter {
 public:
  virtual ~FamilyAdapter() = default;
  virtual ModelFamily family() const = 0;
  virtual std::string_view display_name() const = 0;  // "SAM 2", "EfficientSAM", ...

  // What differs between the graphs and this family's signature; empty when they are this
  // family. Cheap: reads the signatures only.
  virtual std::vector<Difference> Differences(const ModelGraphs& graphs) const = 0;

  // For the matching family only: keeps the sessions and the tensor names it runs with and
  // fills `info`'s family fields (family, frame_fit, embedding names and shapes,
  // embedding_bytes, max_points, mask ranking, encoder convention).
  virtual Status Configure(const ModelGraphs& graphs, ModelInfo& info) = 0;

  // The size Prepare resizes a height x width image to (before any padding): by default the
  // longest side or the stretch to the frame, as info.frame_fit says.
  virtual ResizedSize InputSize(int height, int width, const ModelInfo& info) const;
  virtual PreparedImage Prepare(const DecodedImage& image, const ModelInfo& info) const = 0;
  virtual Result<Embedding> Encode(const PreparedImage& input, const ModelInfo& info) const = 0;
  // The decoder outputs Decode reads for a click (without graph_masks). Clicks run in sessions
  // of a graph trimmed to them (graph_trim.h), so these must be all a click needs.
  virtual std::vector<std::string> ClickOutputs() const = 0;
  // Runs the decoder in a session from `decoder`. `graph_masks`: also return the decoder's own
  // masks at the original size (slow; tests), so `decoder` must hold the whole graph.
  virtual Result<DecoderResult> Decode(const Embedding& embedding, const DecoderPrompt& prompt,
                                       const ModelInfo& info, SessionPool& decoder,
                                       bool graph_masks) const = 0;
};

// A fresh adapter for every family, in detection order.
std::vector<std::unique_ptr<FamilyAdapter>> MakeFamilyAdapters();
std::unique_ptr<FamilyAdapter> MakeSamAdapter();
std::unique_ptr<FamilyAdapter> MakeSamHqAdapter();
std::unique_ptr<FamilyAdapter> MakeEdgeSamAdapter();
std::unique_ptr<FamilyAdapter> MakeSam2Adapter(bool full_size);
std::unique_ptr<FamilyAdapter> MakeEfficientSamAdapter();

// The adapter whose family the graphs are. With `stated` (model.json "family") only that
// family is tried, and a mismatch names what differs. Else InvalidArgument naming the
// closest family and its differences.
Result<std::unique_ptr<FamilyAdapter>> DetectFamily(const ModelGraphs& graphs,
                                                    std::optional<ModelFamily> stated);

// --- Shared by the adapters ---------------------------------------------------------------

// One tensor of the cached embedding: the encoder output it comes from, the name it is
// cached and fed to the decoder under, and the shape the decoder takes (-1: any).
struct EmbeddingPart {
  std::string encoder_output;
  std::string name;
  std::vector<int64_t> shape;
};

// Runs the encoder on `input` and returns the parts as one embedding, each checked against
// its expected shape (exports often declare symbolic output shapes: only the run tells).
Result<Embedding> RunEncoder(Ort::Session& encoder, const std::string& input_name, const PreparedImage& input,
                             const std::vector<EmbeddingPart>& parts, const std::string& model_id);

// The embedding's tensor `name`, checked to come from model `info.id`.
Result<const NamedTensor*> EmbeddingTensor(const Embedding& embedding, const ModelInfo& info,
                                           const std::string& name);

// Points and box corners (labels 2 and 3) scaled into a frame: (x * sx, y * sy). With
// `pad_without_box`, a padding point (0, 0) labelled -1 follows when there is no box, as
// SAM's prompt encoder does.
struct EncodedPoints {
  std::vector<float> coords;  // x0, y0, x1, y1, ...
  std::vector<float> labels;
  int64_t count() const { return static_cast<int64_t>(labels.size()); }
};
EncodedPoints EncodePoints(const DecoderPrompt& prompt, float sx, float sy, bool pad_without_box);

// InvalidArgument when the prompt has more points (box corners included) than `max_points`
// (0: no limit), naming the limit and the family.
Status CheckPointCount(const DecoderPrompt& prompt, const ModelInfo& info, std::string_view family);

// Fills mask_count, low_res_* and scores from a masks output whose last three dims are
// [M, h, w] (all others 1) and a scores output of M values.
Status FillLowRes(const FloatView& masks, const FloatView& scores, DecoderResult& result);
// Fills graph_* from a full-size masks output [..., M, H, W] with the same M.
Status FillGraphMasks(const FloatView& masks, DecoderResult& result);

// Image size must be positive (a catalog record never has 0, a caller bug might).
Status CheckPromptSize(const DecoderPrompt& prompt);

// fp32 bytes of tensors of these shapes (symbolic dims count as 0: unknown until a run).
uint64_t EmbeddingBytes(const std::vector<std::vector<int64_t>>& shapes);

}  // namespace samcache

// A SAM-family model: one ONNX encoder and one ONNX decoder, loaded once and shared.
//
// Names, shapes and the encoder's input convention are read from the model files (and an
// optional model.json), never assumed. The family (SAM, SAM-HQ, EdgeSAM, SAM 2 in two export
// formats, EfficientSAM) is detected from the graphs' signatures by one adapter per family
// (src/model/*_family.cpp); a folder that matches no family is refused at Open with a message
// naming the closest family, the file, the tensor and what differs.
// ONNX Runtime stays behind this header.
//
// Thread-safety: after Open, every method may be called from any number of threads at
// once (ONNX Runtime sessions support concurrent Run calls).
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "image/image_decoder.h"
#include "model/model_family.h"
#include "store/embedding.h"

namespace samcache {

enum class EncoderLayout {
  kNchwNormalized,  // [1,3,S,S]: resized, normalised and zero-padded by us
  kHwcResized,      // [H,W,3] 0..255: resized by us, normalised and padded in the graph
};

// How the segmenter picks among the decoder's masks (see ChooseMasks in segmenter.h).
enum class MaskRanking {
  kOfficial,    // four masks: index 0 is the single-mask answer, 1..3 the multimask ones
  kAllByScore,  // every mask ranked by its score (EdgeSAM: scores are stability scores)
};

struct ModelInfo {
  std::string id;  // first 16 hex of the SHA-256 of encoder.onnx: the cache key's model part
  std::string name;
  std::string description;
  bool demo = false;  // the bundled demo model, which is not SAM
  ModelFamily family = ModelFamily::kSam;
  FrameFit frame_fit = FrameFit::kLongestSide;
  std::string source;  // the model folder, or "built-in"
  EncoderLayout encoder_layout = EncoderLayout::kNchwNormalized;
  int input_side = 1024;  // the encoder's square frame; the longest image side is resized to it
  std::array<float, 3> pixel_mean{123.675f, 116.28f, 103.53f};
  std::array<float, 3> pixel_std{58.395f, 57.12f, 57.375f};
  std::string encoder_input;                 // the encoder's input tensor name
  std::vector<std::string> embedding_names;  // encoder outputs the decoder takes, by name
  // One shape per name, as the decoder takes it (-1: declared symbolic and known per run).
  std::vector<std::vector<int64_t>> embedding_shapes{{1, 256, 64, 64}};
  int low_res_side = 256;  // mask_input / low_res_masks side
  MaskRanking mask_ranking = MaskRanking::kOfficial;
  bool takes_mask_input = true;  // false: refine_from's mask cannot be given to the decoder
  // Prompt points per decoder run, box corners included (the family's limit); 0: no limit.
  int max_points = 0;
  // One image's cached embedding in float32 (every tensor of the set).
  uint64_t embedding_bytes = 0;
  int intra_op_threads = 0;
  // Decoder nodes clicks skip: they only feed outputs clicks do not read (ModelOptions::trim_decoder).
  int decoder_nodes_trimmed = 0;
};

struct ModelOptions {
  int intra_op_threads = 0;  // 0: the number of cores
  // Run the encoder twice on a blank input in the background after loading, then each decoder
  // session twice: a session's first runs take 2-3x a steady one. EncoderReady() tells when it
  // is done. Servers turn it
  // on; a one-shot command would have the warm-up compete with its first run.
  bool warm_up = false;
  // ONNX Runtime's intra-op threads spin between parallel sections by default. The encoder's
  // then take the cores the embedding pipeline's prepare and store threads need while it runs
  // (bench/encoder_floor_bench measures both).
  bool encoder_spinning = false;
  // Decoder sessions concurrent clicks run in, each with intra_op_threads / decoder_sessions
  // threads (at least 1), plus one with every thread for a click alone. 1: one session every
  // click shares. 0: one per core (serve and worker).
  int decoder_sessions = 1;
  // Clicks run the decoder graph trimmed to the outputs they read: SAM's official export also
  // computes a full-size `masks` output on every run, which samcache never reads. false: the
  // graph as the folder has it (benchmarks compare the two).
  bool trim_decoder = true;
};
inline constexpr int kMaxDecoderSessions = 64;

// Encoder input for one image, ready to run.
struct PreparedImage {
  int original_height = 0;  // the decoded, oriented image
  int original_width = 0;
  int input_height = 0;  // after resizing into the model's frame (longest side, or stretched)
  int input_width = 0;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

struct PromptPoint {
  float x = 0;  // original image pixels
  float y = 0;
  int label = 1;  // 1 foreground, 0 background
};

struct DecoderPrompt {
  int original_height = 0;
  int original_width = 0;
  std::vector<PromptPoint> points;
  std::optional<std::array<float, 4>> box;         // x0, y0, x1, y1 in original pixels
  const std::vector<float>* mask_input = nullptr;  // low_res_side² logits of an earlier decode
};

struct DecoderResult {
  int mask_count = 0;
  int low_res_height = 0;
  int low_res_width = 0;
  std::vector<float> low_res_logits;  // mask_count * low_res_height * low_res_width
  std::vector<float> scores;          // mask_count
  // Only from DecodeWithGraphMasks: the decoder's own masks at graph_height x graph_width.
  int graph_height = 0;
  int graph_width = 0;
  std::vector<float> graph_masks;
};

class SamModel {
 public:
  // A folder with encoder.onnx, decoder.onnx and optionally model.json.
  static Result<std::unique_ptr<SamModel>> OpenFolder(const std::filesystem::path& dir,
                                                      const ModelOptions& options);
  // The demo model compiled into the binary (models/demo).
  static Result<std::unique_ptr<SamModel>> OpenDemo(const ModelOptions& options);

  ~SamModel();
  SamModel(const SamModel&) = delete;
  SamModel& operator=(const SamModel&) = delete;

  const ModelInfo& info() const;

  // False while the encoder warms up after loading (ModelOptions::warm_up); true after, and
  // always true without a warm-up. Requests are served either way.
  bool EncoderReady() const;

  // Resize (longest side to the frame, or stretched to it; area averaging when shrinking) and
  // lay out the encoder input in the model family's convention.
  PreparedImage Prepare(const DecodedImage& image) const;
  // The (height, width) Prepare resizes a height x width image to, before any padding.
  std::pair<int, int> InputSize(int height, int width) const;

  // Runs the encoder. The returned tensors' shapes are checked against what the decoder
  // takes (exports often declare symbolic output shapes, so metadata alone proves nothing).
  Result<Embedding> Encode(const PreparedImage& input) const;

  // Runs the decoder with prompts (original pixels) mapped into the model's frame. The graph's
  // own full-size upsample is skipped where the graph has one (orig_im_size is set small):
  // callers upsample only the low-resolution mask they return (info().frame_fit says how),
  // which keeps clicks fast on large images. Prompts beyond info().max_points are refused.
  Result<DecoderResult> Decode(const Embedding& embedding, const DecoderPrompt& prompt) const;

  // As Decode, but also returns the graph's masks output at the original size. Slow on
  // large images; tests use it to check our upsampling against the graph's.
  Result<DecoderResult> DecodeWithGraphMasks(const Embedding& embedding, const DecoderPrompt& prompt) const;

 private:
  struct Impl;
  explicit SamModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The ONNX Runtime library version actually loaded.
std::string OnnxRuntimeVersion();

}  // namespace samcache

// SAM 2 / 2.1 in its two common ONNX formats.
//
// samexporter's (kSam2; also what X-AnyLabeling loads): encoder `image` [1,3,1024,1024], the
// image STRETCHED to 1024x1024 (no aspect ratio kept, no padding), RGB/255 with ImageNet
// mean/std -> high_res_feats_0 [1,32,256,256], high_res_feats_1 [1,64,128,128], image_embed
// [1,256,64,64] (dims often declared symbolic: shapes are checked on the run). The three are
// the cached embedding (16 MiB in fp32). Decoder: those three, point_coords [N,P,2] and
// point_labels [N,P] in the stretched frame (the graph adds +0.5 and its own padding point:
// we send none), mask_input [N,1,256,256], has_mask_input [N] -> masks [N,3,256,256] low-res
// logits (clamped to +-32) and iou_predictions [N,3], already through a sigmoid. We send one
// prompt set (N = 1); the export's N > 1 quirk (it fails unless has_mask_input is [1]) never
// applies, and has_mask_input is sent as [1] anyway.
//
// ONNX-SAM2-Segment-Anything's (kSam2FullSize): the same plus `orig_im_size` int32 [2]; its
// `masks` are the low-res logits bilinearly resized (align_corners=False) straight to
// orig_im_size. We ask for low_res_side x low_res_side, which is the identity resize, so a
// click costs what it costs in samexporter's format; the caller upsamples as for kSam2.
#include "model/family_adapter.h"
#include "model/preprocess.h"

namespace samcache {
namespace {

struct Part {
  const char* name;
  std::vector<int64_t> shape;
};
const std::vector<Part>& Parts() {
  static const std::vector<Part> parts = {
      {"image_embed", {1, 256, 64, 64}},
      {"high_res_feats_0", {1, 32, 256, 256}},
      {"high_res_feats_1", {1, 64, 128, 128}},
  };
  return parts;
}

// ImageNet's mean and std on the 0..255 scale (SAM 1 uses the same numbers with padding).
constexpr std::array<float, 3> kMean{123.675f, 116.28f, 103.53f};
constexpr std::array<float, 3> kStd{58.395f, 57.12f, 57.375f};

class Sam2Adapter : public FamilyAdapter {
 public:
  explicit Sam2Adapter(bool full_size) : full_size_(full_size) {}

  ModelFamily family() const override { return full_size_ ? ModelFamily::kSam2FullSize : ModelFamily::kSam2; }
  std::string_view display_name() const override {
    return full_size_ ? "SAM 2 (ONNX-SAM2-Segment-Anything format)" : "SAM 2 (samexporter format)";
  }

  std::vector<Difference> Differences(const ModelGraphs& graphs) const override {
    DifferenceList out;
    out.Encoder(SquareImageInputDifference(graphs));
    for (const Part& part : Parts()) {
      out.Encoder(TensorDifference(graphs.encoder_outputs, "output", part.name, part.shape));
      out.Decoder(TensorDifference(graphs.decoder_inputs, "input", part.name, part.shape));
    }
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "point_coords", {kAny, kAny, 2}));
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "point_labels", {kAny, kAny}));
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "mask_input", {kAny, 1, 256, 256}));
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "has_mask_input", {kAny}));
    if (full_size_) {
      out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "orig_im_size", {2},
                                   ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32));
    }
    for (const TensorSpec& spec : graphs.decoder_inputs) {
      if (!Known(spec.name)) out.Decoder("unexpected input '" + spec.name + "'");
    }
    out.Decoder(TensorDifference(graphs.decoder_outputs, "output", "masks", {kAny, kAny, kAny, kAny}));
    out.Decoder(TensorDifference(graphs.decoder_outputs, "output", "iou_predictions", {kAny, kAny}));
    return std::move(out.items);
  }

  Status Configure(const ModelGraphs& graphs, ModelInfo& info) override {
    encoder_ = graphs.encoder;
    encoder_input_ = graphs.encoder_inputs.at(0).name;
    info.family = family();
    info.frame_fit = FrameFit::kStretch;
    info.encoder_layout = EncoderLayout::kNchwNormalized;
    info.encoder_input = encoder_input_;
    info.input_side = 1024;
    info.pixel_mean = kMean;
    info.pixel_std = kStd;
    info.embedding_names.clear();
    info.embedding_shapes.clear();
    for (const Part& part : Parts()) {
      info.embedding_names.push_back(part.name);
      info.embedding_shapes.push_back(part.shape);
    }
    info.embedding_bytes = EmbeddingBytes(info.embedding_shapes);
    info.max_points = 0;
    info.mask_ranking = MaskRanking::kOfficial;  // three masks: the best score
    info.takes_mask_input = true;
    return Status::Ok();
  }

  PreparedImage Prepare(const DecodedImage& image, const ModelInfo& info) const override {
    PreparedImage prepared;
    prepared.original_height = static_cast<int>(image.height);
    prepared.original_width = static_cast<int>(image.width);
    const DecodedImage stretched = ResizeTo(image, info.input_side, info.input_side);
    prepared.input_height = info.input_side;
    prepared.input_width = info.input_side;
    prepared.shape = {1, 3, info.input_side, info.input_side};
    prepared.values.resize(size_t{3} * info.input_side * info.input_side);
    FillNchw(stretched, info.pixel_mean, info.pixel_std, prepared.values.data());
    return prepared;
  }

  Result<Embedding> Encode(const PreparedImage& input, const ModelInfo& info) const override {
    std::vector<EmbeddingPart> parts;
    for (const Part& part : Parts()) parts.push_back({part.name, part.name, part.shape});
    return RunEncoder(*encoder_, encoder_input_, input, parts, info.id);
  }

  std::vector<std::string> ClickOutputs() const override { return {"masks", "iou_predictions"}; }

  Result<DecoderResult> Decode(const Embedding& embedding, const DecoderPrompt& prompt, const ModelInfo& info,
                               SessionPool& decoder, bool graph_masks) const override {
    SAMCACHE_RETURN_IF_ERROR(CheckPromptSize(prompt));
    SAMCACHE_ASSIGN_OR_RETURN(DecoderResult result,
                              Run(embedding, prompt, info, decoder, info.low_res_side, info.low_res_side));
    if (graph_masks && full_size_) {
      SAMCACHE_ASSIGN_OR_RETURN(DecoderResult full, Run(embedding, prompt, info, decoder,
                                                        prompt.original_height, prompt.original_width));
      result.graph_height = full.low_res_height;
      result.graph_width = full.low_res_width;
      result.graph_masks = std::move(full.low_res_logits);
    }
    return result;
  }

 private:
  bool Known(const std::string& name) const {
    for (const Part& part : Parts()) {
      if (name == part.name) return true;
    }
    return name == "point_coords" || name == "point_labels" || name == "mask_input" ||
           name == "has_mask_input" || (full_size_ && name == "orig_im_size");
  }

  // One decoder run; with full_size_, the masks come at out_h x out_w.
  Result<DecoderResult> Run(const Embedding& embedding, const DecoderPrompt& prompt, const ModelInfo& info,
                            SessionPool& decoder, int out_h, int out_w) const {
    Feed feed;
    for (const Part& part : Parts()) {
      SAMCACHE_ASSIGN_OR_RETURN(const NamedTensor* tensor, EmbeddingTensor(embedding, info, part.name));
      feed.Float(part.name, tensor->values.data(), tensor->values.size(), tensor->shape);
    }
    // The stretched frame: x scales by side / width, y by side / height.
    const float side = static_cast<float>(info.input_side);
    const EncodedPoints points =
        EncodePoints(prompt, side / static_cast<float>(prompt.original_width),
                     side / static_cast<float>(prompt.original_height), /*pad_without_box=*/false);
    feed.Float("point_coords", points.coords.data(), points.coords.size(), {1, points.count(), 2});
    feed.Float("point_labels", points.labels.data(), points.labels.size(), {1, points.count()});
    const int64_t low = info.low_res_side;
    std::vector<float> zero_mask;
    const float* mask = nullptr;
    if (prompt.mask_input) {
      if (prompt.mask_input->size() != static_cast<size_t>(low * low)) {
        return Status::InvalidArgument("mask_input has the wrong size");
      }
      mask = prompt.mask_input->data();
    } else {
      zero_mask.assign(static_cast<size_t>(low * low), 0.0f);
      mask = zero_mask.data();
    }
    const float has_mask = prompt.mask_input ? 1.0f : 0.0f;
    feed.Float("mask_input", mask, static_cast<size_t>(low * low), {1, 1, low, low});
    feed.Float("has_mask_input", &has_mask, 1, {1});
    if (full_size_) feed.Int32("orig_im_size", {out_h, out_w}, {2});
    SAMCACHE_ASSIGN_OR_RETURN(std::vector<Ort::Value> values,
                              feed.Run(*decoder.Take(), ClickOutputs(), "decoder"));
    DecoderResult result;
    SAMCACHE_RETURN_IF_ERROR(FillLowRes(ViewOf(values[0]), ViewOf(values[1]), result));
    return result;
  }

  const bool full_size_;
  Ort::Session* encoder_ = nullptr;
  std::string encoder_input_;
};

}  // namespace

std::unique_ptr<FamilyAdapter> MakeSam2Adapter(bool full_size) {
  return std::make_unique<Sam2Adapter>(full_size);
}

}  // namespace samcache

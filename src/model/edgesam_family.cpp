// EdgeSAM (its scripts/export_onnx_model.py): encoder `image` [1,3,1024,1024] with SAM's
// preprocessing -> `image_embeddings`; decoder takes only image_embeddings, point_coords and
// point_labels and returns `scores` and `masks` (four low-res masks, no mask input, no
// orig_im_size). The graph adds +0.5 to the points itself but adds no padding point; SAM's
// prompt encoder, which EdgeSAM was distilled with, pads when there is no box, so we do too.
// Its authors rank masks by stability score because the IoU head was not distilled: the
// scores we return are stability scores of the low-res logits (offset 1, threshold 0).
#include <algorithm>

#include "model/family_adapter.h"
#include "model/preprocess.h"

namespace samcache {
namespace {

const std::vector<int64_t> kEmbeddingShape = {1, 256, 64, 64};

// segment-anything's calculate_stability_score: IoU of the mask thresholded at +offset and
// at -offset.
float StabilityScore(const float* logits, size_t count) {
  constexpr float kOffset = 1.0f;
  size_t inner = 0;
  size_t outer = 0;
  for (size_t i = 0; i < count; ++i) {
    inner += logits[i] > kOffset;
    outer += logits[i] > -kOffset;
  }
  return outer == 0 ? 0.0f : static_cast<float>(inner) / static_cast<float>(outer);
}

class EdgeSamAdapter : public FamilyAdapter {
 public:
  ModelFamily family() const override { return ModelFamily::kEdgeSam; }
  std::string_view display_name() const override { return "EdgeSAM"; }

  std::vector<Difference> Differences(const ModelGraphs& graphs) const override {
    DifferenceList out;
    out.Encoder(SquareImageInputDifference(graphs));
    out.Encoder(TensorDifference(graphs.encoder_outputs, "output", EncoderOutput(graphs), kEmbeddingShape));
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "image_embeddings", kEmbeddingShape));
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "point_coords", {1, kAny, 2}));
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "point_labels", {1, kAny}));
    for (const TensorSpec& spec : graphs.decoder_inputs) {
      if (spec.name != "image_embeddings" && spec.name != "point_coords" && spec.name != "point_labels") {
        out.Decoder("unexpected input '" + spec.name + "' (EdgeSAM's decoder takes prompts only)");
      }
    }
    out.Decoder(TensorDifference(graphs.decoder_outputs, "output", "scores", {1, kAny}));
    out.Decoder(TensorDifference(graphs.decoder_outputs, "output", "masks", {1, kAny, kAny, kAny}));
    return std::move(out.items);
  }

  Status Configure(const ModelGraphs& graphs, ModelInfo& info) override {
    encoder_ = graphs.encoder;
    encoder_input_ = graphs.encoder_inputs.at(0).name;
    encoder_output_ = EncoderOutput(graphs);
    info.family = family();
    info.frame_fit = FrameFit::kLongestSide;
    info.encoder_layout = EncoderLayout::kNchwNormalized;
    info.encoder_input = encoder_input_;
    info.input_side = 1024;
    info.embedding_names = {"image_embeddings"};
    info.embedding_shapes = {kEmbeddingShape};
    info.embedding_bytes = EmbeddingBytes(info.embedding_shapes);
    info.max_points = 0;
    info.mask_ranking = MaskRanking::kAllByScore;
    info.takes_mask_input = false;
    return Status::Ok();
  }

  PreparedImage Prepare(const DecodedImage& image, const ModelInfo& info) const override {
    PreparedImage prepared;
    prepared.original_height = static_cast<int>(image.height);
    prepared.original_width = static_cast<int>(image.width);
    DecodedImage resized = ResizeLongestSide(image, info.input_side);
    prepared.input_height = static_cast<int>(resized.height);
    prepared.input_width = static_cast<int>(resized.width);
    prepared.shape = {1, 3, info.input_side, info.input_side};
    prepared.values.resize(size_t{3} * info.input_side * info.input_side);
    FillNchwNormalized(resized, info.pixel_mean, info.pixel_std, info.input_side, prepared.values.data());
    return prepared;
  }

  Result<Embedding> Encode(const PreparedImage& input, const ModelInfo& info) const override {
    return RunEncoder(*encoder_, encoder_input_, input,
                      {{encoder_output_, "image_embeddings", kEmbeddingShape}}, info.id);
  }

  std::vector<std::string> ClickOutputs() const override { return {"scores", "masks"}; }

  Result<DecoderResult> Decode(const Embedding& embedding, const DecoderPrompt& prompt, const ModelInfo& info,
                               SessionPool& decoder,
                               bool /*graph_masks: the graph has no full-size output*/) const override {
    SAMCACHE_RETURN_IF_ERROR(CheckPromptSize(prompt));
    SAMCACHE_ASSIGN_OR_RETURN(const NamedTensor* features,
                              EmbeddingTensor(embedding, info, "image_embeddings"));
    const ResizedSize input = LongestSideSize(prompt.original_height, prompt.original_width, info.input_side);
    const EncodedPoints points =
        EncodePoints(prompt, static_cast<float>(input.width) / static_cast<float>(prompt.original_width),
                     static_cast<float>(input.height) / static_cast<float>(prompt.original_height),
                     /*pad_without_box=*/true);
    Feed feed;
    feed.Float("image_embeddings", features->values.data(), features->values.size(), features->shape);
    feed.Float("point_coords", points.coords.data(), points.coords.size(), {1, points.count(), 2});
    feed.Float("point_labels", points.labels.data(), points.labels.size(), {1, points.count()});
    SAMCACHE_ASSIGN_OR_RETURN(std::vector<Ort::Value> values,
                              feed.Run(*decoder.Take(), ClickOutputs(), "decoder"));
    DecoderResult result;
    SAMCACHE_RETURN_IF_ERROR(FillLowRes(ViewOf(values[1]), ViewOf(values[0]), result));
    const size_t plane = static_cast<size_t>(result.low_res_height) * result.low_res_width;
    for (int m = 0; m < result.mask_count; ++m) {
      result.scores[static_cast<size_t>(m)] = StabilityScore(result.low_res_logits.data() + plane * m, plane);
    }
    return result;
  }

 private:
  // `image_embeddings`, or the encoder's only output.
  static std::string EncoderOutput(const ModelGraphs& graphs) {
    if (FindSpec(graphs.encoder_outputs, "image_embeddings") || graphs.encoder_outputs.size() != 1) {
      return "image_embeddings";
    }
    return graphs.encoder_outputs[0].name;
  }

  Ort::Session* encoder_ = nullptr;
  std::string encoder_input_;
  std::string encoder_output_;
};

}  // namespace

std::unique_ptr<FamilyAdapter> MakeEdgeSamAdapter() { return std::make_unique<EdgeSamAdapter>(); }

}  // namespace samcache

// EfficientSAM (its export_to_onnx.py, native names). Encoder `batched_images`
// [batch,3,height,width], RGB scaled to 0..1 at the image's own size; the graph stretches it
// to 1024x1024 (bilinear) and normalises inside -> image_embeddings [1,256,64,64]. We shrink
// a side above 1024 ourselves first (area averaging, better than the graph's bilinear
// downscale, and a 12-megapixel photo would otherwise be a 144 MB float tensor); smaller
// images go in at their own size, exactly as the reference.
//
// Decoder: image_embeddings, batched_point_coords [1,1,n,2] in ORIGINAL pixels,
// batched_point_labels [1,1,n] (1/0 points, 2/3 box corners, -1 padding), orig_im_size int64
// (h, w) -> output_masks [1,1,3,H,W] logits at orig_im_size, iou_predictions [1,1,3], and the
// low-res masks [1,3,256,256] under an unnamed output (`onnx::Shape_1785` in the official
// export). The graph maps points by orig_im_size (x * 1024 / w), so we send orig_im_size =
// (low, low) with points scaled to it: the same frame, and a tiny output_masks instead of a
// full-size one. The low-res masks cover the stretched frame (FrameFit::kStretch).
#include <algorithm>

#include "model/family_adapter.h"
#include "model/preprocess.h"

namespace samcache {
namespace {

// The export takes any number of points but silently ignores every one after the sixth
// (measured on the official export: 7 or 8 points give exactly the masks of the first 6), so a
// box after five points would lose a corner. Refused instead; box corners count.
constexpr int kMaxPoints = 6;
constexpr int kEncoderSide = 1024;

class EfficientSamAdapter : public FamilyAdapter {
 public:
  ModelFamily family() const override { return ModelFamily::kEfficientSam; }
  std::string_view display_name() const override { return "EfficientSAM"; }

  std::vector<Difference> Differences(const ModelGraphs& graphs) const override {
    DifferenceList out;
    out.Encoder(TensorDifference(graphs.encoder_inputs, "input", "batched_images", {kAny, 3, kAny, kAny}));
    out.Encoder(
        TensorDifference(graphs.encoder_outputs, "output", "image_embeddings", {kAny, 256, kAny, kAny}));
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "image_embeddings", {kAny, 256, 64, 64}));
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "batched_point_coords", {1, 1, kAny, 2}));
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "batched_point_labels", {1, 1, kAny}));
    out.Decoder(TensorDifference(graphs.decoder_inputs, "input", "orig_im_size", {2},
                                 ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64));
    out.Decoder(
        TensorDifference(graphs.decoder_outputs, "output", "output_masks", {kAny, kAny, kAny, kAny, kAny}));
    out.Decoder(TensorDifference(graphs.decoder_outputs, "output", "iou_predictions", {1, 1, kAny}));
    if (LowResOutput(graphs).empty()) {
      out.Decoder("no rank-4 output besides output_masks and iou_predictions (the low-res masks)");
    }
    return std::move(out.items);
  }

  Status Configure(const ModelGraphs& graphs, ModelInfo& info) override {
    encoder_ = graphs.encoder;
    low_res_output_ = LowResOutput(graphs);
    info.family = family();
    info.frame_fit = FrameFit::kStretch;
    info.encoder_layout = EncoderLayout::kNchwNormalized;
    info.encoder_input = "batched_images";
    info.input_side = kEncoderSide;
    info.pixel_mean = {0.0f, 0.0f, 0.0f};
    info.pixel_std = {255.0f, 255.0f, 255.0f};
    info.embedding_names = {"image_embeddings"};
    info.embedding_shapes = {{1, 256, 64, 64}};
    info.embedding_bytes = EmbeddingBytes(info.embedding_shapes);
    info.max_points = kMaxPoints;
    info.mask_ranking = MaskRanking::kOfficial;  // three masks: the best score
    info.takes_mask_input = false;
    return Status::Ok();
  }

  // The image's own size, each side capped at the frame (a 12 MP float input would be 144 MB).
  ResizedSize InputSize(int height, int width, const ModelInfo& info) const override {
    return {std::min(height, info.input_side), std::min(width, info.input_side)};
  }

  PreparedImage Prepare(const DecodedImage& image, const ModelInfo& info) const override {
    PreparedImage prepared;
    prepared.original_height = static_cast<int>(image.height);
    prepared.original_width = static_cast<int>(image.width);
    const auto [height, width] = InputSize(prepared.original_height, prepared.original_width, info);
    const DecodedImage resized = ResizeTo(image, height, width);
    prepared.input_height = height;
    prepared.input_width = width;
    prepared.shape = {1, 3, height, width};
    prepared.values.resize(size_t{3} * height * width);
    FillNchw(resized, info.pixel_mean, info.pixel_std, prepared.values.data());
    return prepared;
  }

  Result<Embedding> Encode(const PreparedImage& input, const ModelInfo& info) const override {
    return RunEncoder(*encoder_, "batched_images", input,
                      {{"image_embeddings", "image_embeddings", info.embedding_shapes[0]}}, info.id);
  }

  std::vector<std::string> ClickOutputs() const override { return {"iou_predictions", low_res_output_}; }

  Result<DecoderResult> Decode(const Embedding& embedding, const DecoderPrompt& prompt, const ModelInfo& info,
                               SessionPool& decoder, bool graph_masks) const override {
    SAMCACHE_RETURN_IF_ERROR(CheckPromptSize(prompt));
    SAMCACHE_RETURN_IF_ERROR(CheckPointCount(prompt, info, display_name()));
    SAMCACHE_ASSIGN_OR_RETURN(const NamedTensor* features,
                              EmbeddingTensor(embedding, info, "image_embeddings"));
    // The frame the graph maps points from: the original size when its masks are wanted,
    // else low x low (the same stretched frame once the graph rescales).
    const int frame_h = graph_masks ? prompt.original_height : info.low_res_side;
    const int frame_w = graph_masks ? prompt.original_width : info.low_res_side;
    const EncodedPoints points =
        EncodePoints(prompt, static_cast<float>(frame_w) / static_cast<float>(prompt.original_width),
                     static_cast<float>(frame_h) / static_cast<float>(prompt.original_height),
                     /*pad_without_box=*/false);
    Feed feed;
    feed.Float("image_embeddings", features->values.data(), features->values.size(), features->shape);
    feed.Float("batched_point_coords", points.coords.data(), points.coords.size(), {1, 1, points.count(), 2});
    feed.Float("batched_point_labels", points.labels.data(), points.labels.size(), {1, 1, points.count()});
    feed.Int64("orig_im_size", {frame_h, frame_w}, {2});
    std::vector<std::string> outputs = ClickOutputs();
    if (graph_masks) outputs.push_back("output_masks");
    SAMCACHE_ASSIGN_OR_RETURN(std::vector<Ort::Value> values, feed.Run(*decoder.Take(), outputs, "decoder"));
    DecoderResult result;
    SAMCACHE_RETURN_IF_ERROR(FillLowRes(ViewOf(values[1]), ViewOf(values[0]), result));
    if (graph_masks) SAMCACHE_RETURN_IF_ERROR(FillGraphMasks(ViewOf(values[2]), result));
    return result;
  }

 private:
  // The exporter leaves the low-res masks unnamed (`onnx::Shape_1785`): the rank-4 output.
  static std::string LowResOutput(const ModelGraphs& graphs) {
    for (const TensorSpec& spec : graphs.decoder_outputs) {
      if (spec.name != "output_masks" && spec.name != "iou_predictions" && spec.shape.size() == 4)
        return spec.name;
    }
    return "";
  }

  Ort::Session* encoder_ = nullptr;
  std::string low_res_output_;
};

}  // namespace

std::unique_ptr<FamilyAdapter> MakeEfficientSamAdapter() { return std::make_unique<EfficientSamAdapter>(); }

}  // namespace samcache

// SAM 1: segment-anything's export_onnx_model.py decoder (image_embeddings, point_coords,
// point_labels, mask_input, has_mask_input, orig_im_size -> masks, iou_predictions,
// low_res_masks) with an encoder taking the normalised, padded NCHW image or, in some
// exports, the resized HWC image (normalised and padded in the graph). Longest-side frame,
// a padding point when there is no box, four masks (index 0 is the single-mask answer).
#include <algorithm>

#include "model/preprocess.h"
#include "model/sam_family.h"

namespace samcache {
namespace {

struct ExpectedTensor {
  const char* name;
  std::vector<int64_t> shape;
};
const std::vector<ExpectedTensor>& PromptInputs() {
  static const std::vector<ExpectedTensor> inputs = {
      {"point_coords", {1, kAny, 2}}, {"point_labels", {1, kAny}}, {"mask_input", {1, 1, 256, 256}},
      {"has_mask_input", {1}},        {"orig_im_size", {2}},
  };
  return inputs;
}
const std::vector<ExpectedTensor>& Outputs() {
  static const std::vector<ExpectedTensor> outputs = {
      {"masks", {1, kAny, kAny, kAny}},
      {"iou_predictions", {1, kAny}},
      {"low_res_masks", {1, kAny, 256, 256}},
  };
  return outputs;
}
const std::vector<int64_t> kEmbeddingShape = {1, 256, 64, 64};

bool IsPromptInput(const std::string& name) {
  return std::any_of(PromptInputs().begin(), PromptInputs().end(),
                     [&](const ExpectedTensor& e) { return name == e.name; });
}

}  // namespace

std::vector<Difference> SamAdapter::Match(const ModelGraphs& graphs, Plan& plan) const {
  std::vector<Difference> differences;
  auto encoder_difference = [&](std::string text) { differences.push_back({true, std::move(text)}); };
  auto decoder_difference = [&](std::string text) {
    if (!text.empty()) differences.push_back({false, std::move(text)});
  };

  // Encoder: one float input whose shape tells the convention.
  if (graphs.encoder_inputs.size() != 1 ||
      graphs.encoder_inputs[0].type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
    encoder_difference(
        "expected exactly one float32 input, [1,3,1024,1024] (normalised NCHW) or [H,W,3] (resized HWC, "
        "0..255)");
  } else {
    const TensorSpec& input = graphs.encoder_inputs[0];
    plan.encoder_input = input.name;
    const std::vector<int64_t>& shape = input.shape;
    std::optional<EncoderLayout> detected;
    if (shape.size() == 4 && ShapeCompatible(shape, {1, 3, kAny, kAny})) {
      detected = EncoderLayout::kNchwNormalized;
      if (shape[2] > 0) plan.input_side = static_cast<int>(shape[2]);
      if (shape[2] > 0 && shape[3] > 0 && shape[2] != shape[3]) detected.reset();
    } else if (shape.size() == 3 && ShapeCompatible(shape, {kAny, kAny, 3})) {
      detected = EncoderLayout::kHwcResized;
    }
    if (graphs.layout_override) detected = graphs.layout_override;
    if (!detected) {
      encoder_difference("input '" + input.name + "' has shape " + ShapeString(shape) +
                         ", expected [1,3,1024,1024] (normalised NCHW) or [H,W,3] (resized HWC)");
    } else {
      plan.layout = *detected;
    }
  }

  // Decoder: the official signature, the extras, and one more input: the image embedding.
  for (const ExpectedTensor& expected : PromptInputs()) {
    decoder_difference(TensorDifference(graphs.decoder_inputs, "input", expected.name, expected.shape));
  }
  for (const ExpectedTensor& expected : Outputs()) {
    decoder_difference(TensorDifference(graphs.decoder_outputs, "output", expected.name, expected.shape));
  }
  const std::vector<ExtraInput> extras = ExtraInputs();
  for (const ExtraInput& extra : extras) {
    decoder_difference(TensorDifference(graphs.decoder_inputs, "input", extra.name, extra.shape));
  }
  std::vector<std::string> embedding_inputs;
  for (const TensorSpec& spec : graphs.decoder_inputs) {
    const bool extra =
        std::any_of(extras.begin(), extras.end(), [&](const ExtraInput& e) { return e.name == spec.name; });
    if (!IsPromptInput(spec.name) && !extra) embedding_inputs.push_back(spec.name);
  }
  if (embedding_inputs.size() != 1) {
    std::string found;
    for (const std::string& name : embedding_inputs) found += (found.empty() ? " (" : ", ") + name;
    decoder_difference(
        "expected one embedding input 'image_embeddings' [1,256,64,64] besides the prompt inputs" +
        std::string(extras.empty() ? "" : " and " + extras[0].name) + ", found " +
        std::to_string(embedding_inputs.size()) + (found.empty() ? "" : found + ")"));
    return differences;
  }
  decoder_difference(TensorDifference(graphs.decoder_inputs, "input", embedding_inputs[0], kEmbeddingShape));

  // Each decoder embedding input comes from the encoder output of the same name, or else
  // from an unclaimed output of the same rank (many exports name it differently).
  std::vector<EmbeddingPart> wanted = {{"", embedding_inputs[0], kEmbeddingShape}};
  for (const ExtraInput& extra : extras) wanted.push_back({"", extra.name, extra.shape});
  std::vector<std::string> claimed;
  for (EmbeddingPart& part : wanted) {
    if (FindSpec(graphs.encoder_outputs, part.name)) part.encoder_output = part.name;
  }
  for (EmbeddingPart& part : wanted) {
    if (part.encoder_output.empty()) {
      for (const TensorSpec& spec : graphs.encoder_outputs) {
        const bool taken = std::any_of(wanted.begin(), wanted.end(),
                                       [&](const EmbeddingPart& p) { return p.encoder_output == spec.name; });
        if (!taken && spec.shape.size() == part.shape.size()) {
          part.encoder_output = spec.name;
          break;
        }
      }
    }
    if (part.encoder_output.empty()) {
      encoder_difference("no output named '" + part.name + "' for the decoder's input");
      continue;
    }
    std::string mismatch =
        TensorDifference(graphs.encoder_outputs, "output", part.encoder_output, part.shape);
    if (!mismatch.empty()) encoder_difference(mismatch);
  }
  plan.parts = std::move(wanted);
  return differences;
}

std::vector<Difference> SamAdapter::Differences(const ModelGraphs& graphs) const {
  Plan plan;
  return Match(graphs, plan);
}

Status SamAdapter::Configure(const ModelGraphs& graphs, ModelInfo& info) {
  std::vector<Difference> differences = Match(graphs, plan_);
  if (!differences.empty()) return Status::Internal("Configure called on a family that does not match");
  encoder_ = graphs.encoder;
  info.family = family();
  info.frame_fit = FrameFit::kLongestSide;
  info.encoder_layout = plan_.layout;
  info.encoder_input = plan_.encoder_input;
  if (plan_.input_side > 0 && plan_.layout == EncoderLayout::kNchwNormalized)
    info.input_side = plan_.input_side;
  info.embedding_names.clear();
  info.embedding_shapes.clear();
  for (EmbeddingPart& part : plan_.parts) {
    // The decoder's declared dims fill in what the expectation left free (SAM-HQ's C).
    const TensorSpec* declared = FindSpec(graphs.decoder_inputs, part.name);
    for (size_t i = 0; declared && i < part.shape.size(); ++i) {
      if (part.shape[i] == kAny) part.shape[i] = declared->shape[i];
    }
    info.embedding_names.push_back(part.name);
    info.embedding_shapes.push_back(part.shape);
  }
  info.embedding_bytes = EmbeddingBytes(info.embedding_shapes);
  info.max_points = 0;
  info.mask_ranking = MaskRanking::kOfficial;
  info.takes_mask_input = true;
  return Status::Ok();
}

PreparedImage SamAdapter::Prepare(const DecodedImage& image, const ModelInfo& info) const {
  PreparedImage prepared;
  prepared.original_height = static_cast<int>(image.height);
  prepared.original_width = static_cast<int>(image.width);
  DecodedImage resized = ResizeLongestSide(image, info.input_side);
  prepared.input_height = static_cast<int>(resized.height);
  prepared.input_width = static_cast<int>(resized.width);
  if (info.encoder_layout == EncoderLayout::kNchwNormalized) {
    prepared.shape = {1, 3, info.input_side, info.input_side};
    prepared.values.resize(size_t{3} * info.input_side * info.input_side);
    FillNchwNormalized(resized, info.pixel_mean, info.pixel_std, info.input_side, prepared.values.data());
  } else {
    prepared.shape = {resized.height, resized.width, 3};
    prepared.values.resize(size_t{3} * resized.height * resized.width);
    FillHwcFloat(resized, prepared.values.data());
  }
  return prepared;
}

Result<Embedding> SamAdapter::Encode(const PreparedImage& input, const ModelInfo& info) const {
  return RunEncoder(*encoder_, plan_.encoder_input, input, plan_.parts, info.id);
}

Result<DecoderResult> SamAdapter::Decode(const Embedding& embedding, const DecoderPrompt& prompt,
                                         const ModelInfo& info, SessionPool& decoder,
                                         bool graph_masks) const {
  SAMCACHE_RETURN_IF_ERROR(CheckPromptSize(prompt));
  Feed feed;
  for (const EmbeddingPart& part : plan_.parts) {
    SAMCACHE_ASSIGN_OR_RETURN(const NamedTensor* tensor, EmbeddingTensor(embedding, info, part.name));
    feed.Float(part.name, tensor->values.data(), tensor->values.size(), tensor->shape);
  }
  // Prompts go into the resized frame: x scales with width, y with height.
  const ResizedSize input = LongestSideSize(prompt.original_height, prompt.original_width, info.input_side);
  const float sx = static_cast<float>(input.width) / static_cast<float>(prompt.original_width);
  const float sy = static_cast<float>(input.height) / static_cast<float>(prompt.original_height);
  const EncodedPoints points = EncodePoints(prompt, sx, sy, /*pad_without_box=*/true);
  feed.Float("point_coords", points.coords.data(), points.coords.size(), {1, points.count(), 2});
  feed.Float("point_labels", points.labels.data(), points.labels.size(), {1, points.count()});
  const int64_t side = info.low_res_side;
  std::vector<float> zero_mask;
  const float* mask = nullptr;
  if (prompt.mask_input) {
    if (prompt.mask_input->size() != static_cast<size_t>(side * side)) {
      return Status::InvalidArgument("mask_input has the wrong size");
    }
    mask = prompt.mask_input->data();
  } else {
    zero_mask.assign(static_cast<size_t>(side * side), 0.0f);
    mask = zero_mask.data();
  }
  const float has_mask = prompt.mask_input ? 1.0f : 0.0f;
  // orig_im_size is (height, width). At the resized size the graph's own upsample is cheap;
  // the caller upsamples the one mask it returns.
  const float orig_size[2] = {static_cast<float>(graph_masks ? prompt.original_height : input.height),
                              static_cast<float>(graph_masks ? prompt.original_width : input.width)};
  feed.Float("mask_input", mask, static_cast<size_t>(side * side), {1, 1, side, side});
  feed.Float("has_mask_input", &has_mask, 1, {1});
  feed.Float("orig_im_size", orig_size, 2, {2});
  std::vector<std::string> outputs = ClickOutputs();
  if (graph_masks) outputs.push_back("masks");
  SAMCACHE_ASSIGN_OR_RETURN(std::vector<Ort::Value> values, feed.Run(*decoder.Take(), outputs, "decoder"));
  DecoderResult result;
  SAMCACHE_RETURN_IF_ERROR(FillLowRes(ViewOf(values[1]), ViewOf(values[0]), result));
  if (graph_masks) SAMCACHE_RETURN_IF_ERROR(FillGraphMasks(ViewOf(values[2]), result));
  return result;
}

std::unique_ptr<FamilyAdapter> MakeSamAdapter() { return std::make_unique<SamAdapter>(); }

}  // namespace samcache

#include "model/sam_model.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/crypto.h"
#include "common/embedded_files.h"
#include "common/files.h"
#include "model/preprocess.h"

namespace samcache {
namespace {

constexpr int64_t kAny = -1;  // a symbolic dimension in an expected shape: anything goes

Ort::Env& Environment() {
  // One environment per process, created on first use and never destroyed: ONNX Runtime's
  // global thread state must outlive every session, including ones in static objects.
  static Ort::Env* env = new Ort::Env(ORT_LOGGING_LEVEL_WARNING, "samcache");
  return *env;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ",";
    out += shape[i] < 0 ? "?" : std::to_string(shape[i]);
  }
  return out + "]";
}

// True when `declared` (where -1 is symbolic) can hold `expected` (where kAny is free).
bool ShapeCompatible(const std::vector<int64_t>& declared, const std::vector<int64_t>& expected) {
  if (declared.size() != expected.size()) return false;
  for (size_t i = 0; i < declared.size(); ++i) {
    if (declared[i] >= 0 && expected[i] != kAny && declared[i] != expected[i]) return false;
  }
  return true;
}

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
};

std::vector<TensorSpec> ReadSpecs(const Ort::Session& session, bool inputs) {
  Ort::AllocatorWithDefaultOptions allocator;
  size_t count = inputs ? session.GetInputCount() : session.GetOutputCount();
  std::vector<TensorSpec> specs;
  for (size_t i = 0; i < count; ++i) {
    TensorSpec spec;
    spec.name =
        (inputs ? session.GetInputNameAllocated(i, allocator) : session.GetOutputNameAllocated(i, allocator))
            .get();
    Ort::TypeInfo type = inputs ? session.GetInputTypeInfo(i) : session.GetOutputTypeInfo(i);
    if (type.GetONNXType() == ONNX_TYPE_TENSOR) {
      auto tensor = type.GetTensorTypeAndShapeInfo();
      spec.shape = tensor.GetShape();
      spec.type = tensor.GetElementType();
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

const TensorSpec* FindSpec(const std::vector<TensorSpec>& specs, const std::string& name) {
  for (const TensorSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// The official decoder signature (segment-anything's export_onnx_model.py).
struct ExpectedTensor {
  const char* name;
  std::vector<int64_t> shape;
};
const std::vector<ExpectedTensor>& DecoderPromptInputs() {
  static const std::vector<ExpectedTensor> inputs = {
      {"point_coords", {1, kAny, 2}}, {"point_labels", {1, kAny}}, {"mask_input", {1, 1, 256, 256}},
      {"has_mask_input", {1}},        {"orig_im_size", {2}},
  };
  return inputs;
}
const std::vector<ExpectedTensor>& DecoderOutputs() {
  static const std::vector<ExpectedTensor> outputs = {
      {"masks", {1, kAny, kAny, kAny}},
      {"iou_predictions", {1, kAny}},
      {"low_res_masks", {1, kAny, 256, 256}},
  };
  return outputs;
}

Status CheckTensor(const std::vector<TensorSpec>& specs, const std::string& file, const char* kind,
                   const std::string& name, const std::vector<int64_t>& expected) {
  const TensorSpec* spec = FindSpec(specs, name);
  if (!spec) {
    std::string present;
    for (const TensorSpec& s : specs) present += (present.empty() ? "" : ", ") + s.name;
    return Status::InvalidArgument(file + ": no " + kind + " named '" + name + "' with shape " +
                                   ShapeString(expected) + " (it has: " + present + ")");
  }
  if (spec->type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
    return Status::InvalidArgument(file + ": " + kind + " '" + name + "' is not float32");
  }
  if (!ShapeCompatible(spec->shape, expected)) {
    return Status::InvalidArgument(file + ": " + kind + " '" + name + "' has shape " +
                                   ShapeString(spec->shape) + ", expected " + ShapeString(expected));
  }
  return Status::Ok();
}

struct ModelFiles {
  std::string source;
  std::string encoder_name;  // for messages: a path or "models/demo/encoder.onnx"
  std::string decoder_name;
  std::string encoder_bytes;
  std::string decoder_bytes;
  std::string config_json;  // empty when there is no model.json
};

Result<ModelFiles> ReadFolder(const std::filesystem::path& dir) {
  ModelFiles files;
  files.source = dir.string();
  files.encoder_name = (dir / "encoder.onnx").string();
  files.decoder_name = (dir / "decoder.onnx").string();
  for (auto [path, out] : {std::pair{files.encoder_name, &files.encoder_bytes},
                           std::pair{files.decoder_name, &files.decoder_bytes}}) {
    if (!std::filesystem::is_regular_file(path)) {
      return Status::NotFound("model folder " + dir.string() + " has no " +
                              std::filesystem::path(path).filename().string());
    }
    SAMCACHE_ASSIGN_OR_RETURN(*out, ReadFile(path));
  }
  if (std::filesystem::is_regular_file(dir / "model.json")) {
    SAMCACHE_ASSIGN_OR_RETURN(files.config_json, ReadFile(dir / "model.json"));
  }
  return files;
}

Status ApplyConfig(const std::string& json_text, const std::string& source, ModelInfo& info,
                   std::optional<EncoderLayout>& layout_override) {
  if (json_text.empty()) return Status::Ok();
  nlohmann::json config = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return Status::InvalidArgument(source + "/model.json is not a JSON object");
  try {
    if (config.contains("name")) info.name = config["name"].get<std::string>();
    if (config.contains("description")) info.description = config["description"].get<std::string>();
    if (config.contains("demo")) info.demo = config["demo"].get<bool>();
    if (config.contains("encoder_input")) {
      std::string layout = config["encoder_input"].get<std::string>();
      if (layout == "nchw") {
        layout_override = EncoderLayout::kNchwNormalized;
      } else if (layout == "hwc") {
        layout_override = EncoderLayout::kHwcResized;
      } else {
        return Status::InvalidArgument(source + "/model.json: encoder_input must be \"nchw\" or \"hwc\"");
      }
    }
    if (config.contains("pixel_mean")) info.pixel_mean = config["pixel_mean"].get<std::array<float, 3>>();
    if (config.contains("pixel_std")) info.pixel_std = config["pixel_std"].get<std::array<float, 3>>();
    if (config.contains("input_size")) info.input_side = config["input_size"].get<int>();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(source + "/model.json: " + e.what());
  }
  return Status::Ok();
}

}  // namespace

struct SamModel::Impl {
  ModelInfo info;
  std::unique_ptr<Ort::Session> encoder;
  std::unique_ptr<Ort::Session> decoder;
  std::string decoder_embedding_input;  // the decoder's name for the encoder output
  std::string encoder_embedding_output;
  Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);

  static Result<std::unique_ptr<Impl>> Load(const ModelFiles& files, const ModelOptions& options);
  Result<DecoderResult> RunDecoder(const Embedding& embedding, const DecoderPrompt& prompt,
                                   bool graph_masks) const;
};

Result<std::unique_ptr<SamModel::Impl>> SamModel::Impl::Load(const ModelFiles& files,
                                                             const ModelOptions& options) {
  auto impl = std::make_unique<SamModel::Impl>();
  ModelInfo& info = impl->info;
  info.source = files.source;
  info.id = Sha256Hex(files.encoder_bytes).substr(0, 16);
  info.name = std::filesystem::path(files.source).filename().string();
  std::optional<EncoderLayout> layout_override;
  SAMCACHE_RETURN_IF_ERROR(ApplyConfig(files.config_json, files.source, info, layout_override));

  info.intra_op_threads = options.intra_op_threads > 0
                              ? options.intra_op_threads
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Ort::SessionOptions session_options;
  session_options.SetIntraOpNumThreads(info.intra_op_threads);
  session_options.SetInterOpNumThreads(1);
  session_options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  try {
    impl->encoder = std::make_unique<Ort::Session>(Environment(), files.encoder_bytes.data(),
                                                   files.encoder_bytes.size(), session_options);
  } catch (const Ort::Exception& e) {
    return Status::InvalidArgument(files.encoder_name + ": ONNX Runtime cannot load it: " + e.what());
  }
  try {
    impl->decoder = std::make_unique<Ort::Session>(Environment(), files.decoder_bytes.data(),
                                                   files.decoder_bytes.size(), session_options);
  } catch (const Ort::Exception& e) {
    return Status::InvalidArgument(files.decoder_name + ": ONNX Runtime cannot load it: " + e.what());
  }

  // Encoder: one float input whose shape tells the convention.
  std::vector<TensorSpec> encoder_inputs = ReadSpecs(*impl->encoder, true);
  std::vector<TensorSpec> encoder_outputs = ReadSpecs(*impl->encoder, false);
  if (encoder_inputs.size() != 1 || encoder_inputs[0].type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
    return Status::InvalidArgument(files.encoder_name +
                                   ": expected exactly one float32 input, [1,3,1024,1024] (normalised "
                                   "NCHW) or [H,W,3] (resized HWC, 0..255)");
  }
  const TensorSpec& input = encoder_inputs[0];
  info.encoder_input = input.name;
  const std::vector<int64_t>& shape = input.shape;
  std::optional<EncoderLayout> detected;
  if (shape.size() == 4 && ShapeCompatible(shape, {1, 3, kAny, kAny})) {
    detected = EncoderLayout::kNchwNormalized;
    if (shape[2] > 0) info.input_side = static_cast<int>(shape[2]);
    if (shape[2] > 0 && shape[3] > 0 && shape[2] != shape[3]) detected.reset();
  } else if (shape.size() == 3 && ShapeCompatible(shape, {kAny, kAny, 3})) {
    detected = EncoderLayout::kHwcResized;
  }
  if (layout_override) detected = layout_override;
  if (!detected) {
    return Status::InvalidArgument(files.encoder_name + ": input '" + input.name + "' has shape " +
                                   ShapeString(shape) +
                                   ", expected [1,3,1024,1024] (normalised NCHW) or [H,W,3] (resized HWC)");
  }
  info.encoder_layout = *detected;

  // Decoder: the official signature; the embedding input is whatever is not a prompt input.
  std::vector<TensorSpec> decoder_inputs = ReadSpecs(*impl->decoder, true);
  std::vector<TensorSpec> decoder_outputs = ReadSpecs(*impl->decoder, false);
  for (const ExpectedTensor& expected : DecoderPromptInputs()) {
    SAMCACHE_RETURN_IF_ERROR(
        CheckTensor(decoder_inputs, files.decoder_name, "input", expected.name, expected.shape));
  }
  for (const ExpectedTensor& expected : DecoderOutputs()) {
    SAMCACHE_RETURN_IF_ERROR(
        CheckTensor(decoder_outputs, files.decoder_name, "output", expected.name, expected.shape));
  }
  std::vector<std::string> embedding_inputs;
  for (const TensorSpec& spec : decoder_inputs) {
    bool is_prompt = std::any_of(DecoderPromptInputs().begin(), DecoderPromptInputs().end(),
                                 [&](const ExpectedTensor& e) { return spec.name == e.name; });
    if (!is_prompt) embedding_inputs.push_back(spec.name);
  }
  if (embedding_inputs.size() != 1) {
    return Status::InvalidArgument(files.decoder_name +
                                   ": expected one embedding input 'image_embeddings' [1,256,64,64] "
                                   "besides the prompt inputs, found " +
                                   std::to_string(embedding_inputs.size()));
  }
  impl->decoder_embedding_input = embedding_inputs[0];
  SAMCACHE_RETURN_IF_ERROR(CheckTensor(decoder_inputs, files.decoder_name, "input",
                                       impl->decoder_embedding_input, info.embedding_shape));

  // The encoder output the decoder takes: same name, or the only output there is.
  if (FindSpec(encoder_outputs, impl->decoder_embedding_input)) {
    impl->encoder_embedding_output = impl->decoder_embedding_input;
  } else if (encoder_outputs.size() == 1) {
    impl->encoder_embedding_output = encoder_outputs[0].name;
  } else {
    return Status::InvalidArgument(files.encoder_name + ": no output named '" +
                                   impl->decoder_embedding_input + "' for the decoder's input");
  }
  SAMCACHE_RETURN_IF_ERROR(CheckTensor(encoder_outputs, files.encoder_name, "output",
                                       impl->encoder_embedding_output, info.embedding_shape));
  info.embedding_names = {impl->decoder_embedding_input};
  info.embedding_bytes = sizeof(float);
  for (int64_t dim : info.embedding_shape) info.embedding_bytes *= static_cast<uint64_t>(dim);
  return impl;
}

SamModel::SamModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SamModel::~SamModel() = default;

Result<std::unique_ptr<SamModel>> SamModel::OpenFolder(const std::filesystem::path& dir,
                                                       const ModelOptions& options) {
  SAMCACHE_ASSIGN_OR_RETURN(const ModelFiles files, ReadFolder(dir));
  SAMCACHE_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::Load(files, options));
  return std::unique_ptr<SamModel>(new SamModel(std::move(impl)));
}

Result<std::unique_ptr<SamModel>> SamModel::OpenDemo(const ModelOptions& options) {
  ModelFiles files;
  files.source = "built-in";
  files.encoder_name = "models/demo/encoder.onnx";
  files.decoder_name = "models/demo/decoder.onnx";
  auto encoder = EmbeddedFile(files.encoder_name);
  auto decoder = EmbeddedFile(files.decoder_name);
  auto config = EmbeddedFile("models/demo/model.json");
  if (!encoder || !decoder || !config)
    return Status::Internal("the demo model is not embedded in this build");
  files.encoder_bytes = std::string(*encoder);
  files.decoder_bytes = std::string(*decoder);
  files.config_json = std::string(*config);
  SAMCACHE_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::Load(files, options));
  return std::unique_ptr<SamModel>(new SamModel(std::move(impl)));
}

const ModelInfo& SamModel::info() const { return impl_->info; }

PreparedImage SamModel::Prepare(const DecodedImage& image) const {
  const ModelInfo& info = impl_->info;
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

Result<Embedding> SamModel::Encode(const PreparedImage& input) const {
  const Impl& impl = *impl_;
  try {
    Ort::Value tensor =
        Ort::Value::CreateTensor<float>(impl.cpu, const_cast<float*>(input.values.data()),
                                        input.values.size(), input.shape.data(), input.shape.size());
    const char* input_names[] = {impl.info.encoder_input.c_str()};
    const char* output_names[] = {impl.encoder_embedding_output.c_str()};
    std::vector<Ort::Value> outputs =
        impl.encoder->Run(Ort::RunOptions{nullptr}, input_names, &tensor, 1, output_names, 1);
    auto type = outputs.at(0).GetTensorTypeAndShapeInfo();
    std::vector<int64_t> shape = type.GetShape();
    if (shape != impl.info.embedding_shape) {
      return Status::Internal("encoder returned '" + impl.encoder_embedding_output + "' with shape " +
                              ShapeString(shape) + ", expected " + ShapeString(impl.info.embedding_shape));
    }
    const float* data = outputs[0].GetTensorData<float>();
    Embedding embedding;
    embedding.model_id = impl.info.id;
    embedding.tensors.push_back(
        {impl.decoder_embedding_input, shape, std::vector<float>(data, data + type.GetElementCount())});
    return embedding;
  } catch (const Ort::Exception& e) {
    return Status::Internal(std::string("encoder run failed: ") + e.what());
  }
}

Result<DecoderResult> SamModel::Impl::RunDecoder(const Embedding& embedding, const DecoderPrompt& prompt,
                                                 bool graph_masks) const {
  const NamedTensor* features = embedding.Find(decoder_embedding_input);
  if (!features || embedding.model_id != info.id) {
    return Status::Internal("embedding was not made by model " + info.id);
  }
  if (prompt.original_height <= 0 || prompt.original_width <= 0) {
    return Status::InvalidArgument("image size must be positive");
  }
  ResizedSize input = LongestSideSize(prompt.original_height, prompt.original_width, info.input_side);
  // Prompts go into the resized frame: x scales with width, y with height.
  const float sx = static_cast<float>(input.width) / static_cast<float>(prompt.original_width);
  const float sy = static_cast<float>(input.height) / static_cast<float>(prompt.original_height);
  std::vector<float> coords;
  std::vector<float> labels;
  for (const PromptPoint& point : prompt.points) {
    coords.insert(coords.end(), {point.x * sx, point.y * sy});
    labels.push_back(static_cast<float>(point.label));
  }
  if (prompt.box) {
    const auto& box = *prompt.box;
    coords.insert(coords.end(), {box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy});
    labels.insert(labels.end(), {2.0f, 3.0f});
  } else {
    // The official decoder expects a padding point when there is no box.
    coords.insert(coords.end(), {0.0f, 0.0f});
    labels.push_back(-1.0f);
  }
  const int64_t point_count = static_cast<int64_t>(labels.size());
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
  float has_mask = prompt.mask_input ? 1.0f : 0.0f;
  // orig_im_size is (height, width). At the resized size the graph's own upsample is
  // cheap; the caller upsamples the one mask it returns.
  float orig_size[2] = {static_cast<float>(graph_masks ? prompt.original_height : input.height),
                        static_cast<float>(graph_masks ? prompt.original_width : input.width)};

  const int64_t coords_shape[] = {1, point_count, 2};
  const int64_t labels_shape[] = {1, point_count};
  const int64_t mask_shape[] = {1, 1, side, side};
  const int64_t one_shape[] = {1};
  const int64_t size_shape[] = {2};
  try {
    std::vector<Ort::Value> inputs;
    inputs.push_back(Ort::Value::CreateTensor<float>(cpu, const_cast<float*>(features->values.data()),
                                                     features->values.size(), features->shape.data(),
                                                     features->shape.size()));
    inputs.push_back(Ort::Value::CreateTensor<float>(cpu, coords.data(), coords.size(), coords_shape, 3));
    inputs.push_back(Ort::Value::CreateTensor<float>(cpu, labels.data(), labels.size(), labels_shape, 2));
    inputs.push_back(Ort::Value::CreateTensor<float>(cpu, const_cast<float*>(mask),
                                                     static_cast<size_t>(side * side), mask_shape, 4));
    inputs.push_back(Ort::Value::CreateTensor<float>(cpu, &has_mask, 1, one_shape, 1));
    inputs.push_back(Ort::Value::CreateTensor<float>(cpu, orig_size, 2, size_shape, 1));
    const char* input_names[] = {decoder_embedding_input.c_str(),
                                 "point_coords",
                                 "point_labels",
                                 "mask_input",
                                 "has_mask_input",
                                 "orig_im_size"};
    const char* output_names[] = {"iou_predictions", "low_res_masks", "masks"};
    const size_t output_count = graph_masks ? 3 : 2;
    std::vector<Ort::Value> outputs = decoder->Run(Ort::RunOptions{nullptr}, input_names, inputs.data(),
                                                   inputs.size(), output_names, output_count);

    DecoderResult result;
    auto scores_info = outputs[0].GetTensorTypeAndShapeInfo();
    auto low_res_info = outputs[1].GetTensorTypeAndShapeInfo();
    std::vector<int64_t> low_res_shape = low_res_info.GetShape();
    std::vector<int64_t> scores_shape = scores_info.GetShape();
    if (low_res_shape.size() != 4 || low_res_shape[0] != 1 || low_res_shape[1] < 1 ||
        scores_shape != std::vector<int64_t>{1, low_res_shape[1]}) {
      return Status::Internal("decoder returned low_res_masks " + ShapeString(low_res_shape) +
                              " and iou_predictions " + ShapeString(scores_shape) +
                              ", expected [1,M,256,256] and [1,M]");
    }
    result.mask_count = static_cast<int>(low_res_shape[1]);
    result.low_res_height = static_cast<int>(low_res_shape[2]);
    result.low_res_width = static_cast<int>(low_res_shape[3]);
    const float* scores = outputs[0].GetTensorData<float>();
    result.scores.assign(scores, scores + result.mask_count);
    const float* low_res = outputs[1].GetTensorData<float>();
    result.low_res_logits.assign(low_res, low_res + low_res_info.GetElementCount());
    if (graph_masks) {
      auto masks_info = outputs[2].GetTensorTypeAndShapeInfo();
      std::vector<int64_t> masks_shape = masks_info.GetShape();
      if (masks_shape.size() != 4 || masks_shape[1] != low_res_shape[1]) {
        return Status::Internal("decoder returned masks " + ShapeString(masks_shape));
      }
      result.graph_height = static_cast<int>(masks_shape[2]);
      result.graph_width = static_cast<int>(masks_shape[3]);
      const float* masks = outputs[2].GetTensorData<float>();
      result.graph_masks.assign(masks, masks + masks_info.GetElementCount());
    }
    return result;
  } catch (const Ort::Exception& e) {
    return Status::Internal(std::string("decoder run failed: ") + e.what());
  }
}

Result<DecoderResult> SamModel::Decode(const Embedding& embedding, const DecoderPrompt& prompt) const {
  return impl_->RunDecoder(embedding, prompt, /*graph_masks=*/false);
}

Result<DecoderResult> SamModel::DecodeWithGraphMasks(const Embedding& embedding,
                                                     const DecoderPrompt& prompt) const {
  return impl_->RunDecoder(embedding, prompt, /*graph_masks=*/true);
}

std::string OnnxRuntimeVersion() { return OrtGetApiBase()->GetVersionString(); }

}  // namespace samcache

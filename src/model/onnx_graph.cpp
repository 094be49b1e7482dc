#include "model/onnx_graph.h"

namespace samcache {

Ort::Env& OrtEnvironment() {
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

bool ShapeCompatible(const std::vector<int64_t>& declared, const std::vector<int64_t>& expected) {
  if (declared.size() != expected.size()) return false;
  for (size_t i = 0; i < declared.size(); ++i) {
    if (declared[i] >= 0 && expected[i] != kAny && declared[i] != expected[i]) return false;
  }
  return true;
}

std::string TypeName(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
      return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
      return "float16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
      return "float64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
      return "int64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
      return "int32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
      return "uint8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
      return "bool";
    default:
      return "type " + std::to_string(static_cast<int>(type));
  }
}

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

std::string SpecNames(const std::vector<TensorSpec>& specs) {
  std::string names;
  for (const TensorSpec& s : specs) names += (names.empty() ? "" : ", ") + s.name;
  return names;
}

std::string TensorDifference(const std::vector<TensorSpec>& specs, const char* kind, const std::string& name,
                             const std::vector<int64_t>& expected, ONNXTensorElementDataType type) {
  const TensorSpec* spec = FindSpec(specs, name);
  if (!spec) {
    return std::string("no ") + kind + " named '" + name + "' with shape " + ShapeString(expected) +
           " (it has: " + SpecNames(specs) + ")";
  }
  if (spec->type != type) {
    return std::string(kind) + " '" + name + "' is " + TypeName(spec->type) + ", expected " + TypeName(type);
  }
  if (!ShapeCompatible(spec->shape, expected)) {
    return std::string(kind) + " '" + name + "' has shape " + ShapeString(spec->shape) + ", expected " +
           ShapeString(expected);
  }
  return "";
}

FloatView ViewOf(const Ort::Value& value) {
  auto info = value.GetTensorTypeAndShapeInfo();
  FloatView view;
  view.shape = info.GetShape();
  view.count = info.GetElementCount();
  view.data = value.GetTensorData<float>();
  return view;
}

void Feed::Float(const std::string& name, const float* data, size_t count,
                 const std::vector<int64_t>& shape) {
  names_.push_back(name);
  // ONNX Runtime only reads inputs; the const_cast is its C API's signature.
  values_.push_back(
      Ort::Value::CreateTensor<float>(cpu_, const_cast<float*>(data), count, shape.data(), shape.size()));
}

void Feed::Int64(const std::string& name, std::vector<int64_t> values, const std::vector<int64_t>& shape) {
  names_.push_back(name);
  std::vector<int64_t>& kept = int64s_.emplace_back(std::move(values));
  values_.push_back(
      Ort::Value::CreateTensor<int64_t>(cpu_, kept.data(), kept.size(), shape.data(), shape.size()));
}

void Feed::Int32(const std::string& name, std::vector<int32_t> values, const std::vector<int64_t>& shape) {
  names_.push_back(name);
  std::vector<int32_t>& kept = int32s_.emplace_back(std::move(values));
  values_.push_back(
      Ort::Value::CreateTensor<int32_t>(cpu_, kept.data(), kept.size(), shape.data(), shape.size()));
}

Result<std::vector<Ort::Value>> Feed::Run(Ort::Session& session, const std::vector<std::string>& outputs,
                                          const char* what) {
  std::vector<const char*> input_names;
  for (const std::string& name : names_) input_names.push_back(name.c_str());
  std::vector<const char*> output_names;
  for (const std::string& name : outputs) output_names.push_back(name.c_str());
  try {
    return session.Run(Ort::RunOptions{nullptr}, input_names.data(), values_.data(), values_.size(),
                       output_names.data(), output_names.size());
  } catch (const Ort::Exception& e) {
    return Status::Internal(std::string(what) + " run failed: " + e.what());
  }
}

}  // namespace samcache

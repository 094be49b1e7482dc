// ONNX Runtime helpers shared by SamModel and the family adapters. PRIVATE to src/model/: only
// its .cpp files include this header, so ONNX Runtime never leaks into a public header.
//
// What a graph declares (names, shapes with -1 for symbolic dims, element types), how a
// family's expectation is compared with it (a difference is a sentence, empty when none),
// and a Feed that holds a run's inputs alive until the run returns.
#pragma once

#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "common/status.h"

namespace samcache {

inline constexpr int64_t kAny = -1;  // a free dimension in an expected shape

// One environment per process, never destroyed (ONNX Runtime's global state must outlive
// every session, including ones in static objects).
Ort::Env& OrtEnvironment();

std::string ShapeString(const std::vector<int64_t>& shape);
// True when `declared` (-1: symbolic) can hold `expected` (kAny: anything).
bool ShapeCompatible(const std::vector<int64_t>& declared, const std::vector<int64_t>& expected);
std::string TypeName(ONNXTensorElementDataType type);

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
};

std::vector<TensorSpec> ReadSpecs(const Ort::Session& session, bool inputs);
const TensorSpec* FindSpec(const std::vector<TensorSpec>& specs, const std::string& name);
std::string SpecNames(const std::vector<TensorSpec>& specs);

// "" when `specs` has `name` of `type` with a shape compatible with `expected`; else what
// differs, e.g. "no input named 'mask_input' with shape [1,1,256,256] (it has: ...)" or
// "input 'orig_im_size' is float32, expected int64". `kind` is "input" or "output".
std::string TensorDifference(const std::vector<TensorSpec>& specs, const char* kind, const std::string& name,
                             const std::vector<int64_t>& expected,
                             ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT);

// An output of a run: its shape and a view of its floats (owned by the Ort::Value).
struct FloatView {
  std::vector<int64_t> shape;
  const float* data = nullptr;
  size_t count = 0;
};
FloatView ViewOf(const Ort::Value& value);

// The inputs of one Run. Float inputs point at the caller's data, which must outlive Run;
// integer inputs are copied in.
class Feed {
 public:
  void Float(const std::string& name, const float* data, size_t count, const std::vector<int64_t>& shape);
  void Int64(const std::string& name, std::vector<int64_t> values, const std::vector<int64_t>& shape);
  void Int32(const std::string& name, std::vector<int32_t> values, const std::vector<int64_t>& shape);
  // Internal("<what> run failed: ...") when ONNX Runtime throws.
  Result<std::vector<Ort::Value>> Run(Ort::Session& session, const std::vector<std::string>& outputs,
                                      const char* what);

 private:
  Ort::MemoryInfo cpu_ = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<std::string> names_;
  std::vector<Ort::Value> values_;
  std::deque<std::vector<int64_t>> int64s_;
  std::deque<std::vector<int32_t>> int32s_;
};

}  // namespace samcache

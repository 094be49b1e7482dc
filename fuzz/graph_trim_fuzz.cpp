// A model folder's decoder.onnx: TrimToOutputs keeps only some of the graph's outputs. Input:
// one byte choosing which outputs to keep (bit i: the i-th), then the model's bytes. Checks that
// a trimmed graph parses, has exactly the kept outputs, lost only nodes, and trims no further.
#include <onnx/onnx_pb.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "model/graph_trim.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const unsigned choice = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  onnx::ModelProto model;
  const bool parses = model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  std::vector<std::string> wanted;
  if (parses) {
    for (int i = 0; i < model.graph().output_size() && i < 8; ++i) {
      if (choice & (1u << i)) wanted.push_back(model.graph().output(i).name());
    }
  }
  const samcache::Result<std::optional<samcache::TrimmedGraph>> trimmed =
      samcache::TrimToOutputs(bytes, wanted);
  FUZZ_CHECK(parses || !trimmed.ok());
  if (!trimmed.ok() || !trimmed->has_value()) return 0;

  onnx::ModelProto out;
  FUZZ_CHECK(out.ParseFromString((*trimmed)->bytes));
  FUZZ_CHECK((*trimmed)->removed_nodes >= 0);
  FUZZ_CHECK(out.graph().node_size() + (*trimmed)->removed_nodes == model.graph().node_size());
  FUZZ_CHECK(out.graph().input_size() == model.graph().input_size());
  for (const onnx::ValueInfoProto& output : out.graph().output()) {
    bool is_wanted = false;
    for (const std::string& name : wanted) is_wanted = is_wanted || name == output.name();
    FUZZ_CHECK(is_wanted);
  }
  // Everything the kept outputs need is there: trimming again removes no node.
  const samcache::Result<std::optional<samcache::TrimmedGraph>> again =
      samcache::TrimToOutputs((*trimmed)->bytes, wanted);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(!again->has_value() || (*again)->removed_nodes == 0);
  return 0;
}

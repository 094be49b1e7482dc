// Trims an ONNX graph to the outputs samcache reads. PRIVATE to src/model/.
//
// ONNX Runtime runs every node of a graph, whatever outputs a Run asks for. SAM's official
// decoder export computes its `masks` output on every click (four 256x256 masks upsampled to
// 1024x1024, cropped, then resized again), though a click reads only the low-resolution masks
// and samcache upsamples the one it keeps itself. Sessions made from the trimmed graph skip
// that work; everything a click reads is computed by the same nodes as before.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace samcache {

struct TrimmedGraph {
  std::string bytes;      // the serialized model
  int removed_nodes = 0;  // nodes none of the kept outputs needs
};

// The model in `bytes` with only `outputs` as its graph outputs (in the graph's order), and
// without the nodes, initializers and shape annotations none of them needs. Graph inputs all
// stay, so the same feeds run it. nullopt when nothing would go. InvalidArgument when `bytes`
// is not an ONNX model or lacks one of `outputs`.
Result<std::optional<TrimmedGraph>> TrimToOutputs(std::string_view bytes,
                                                  const std::vector<std::string>& outputs);

}  // namespace samcache

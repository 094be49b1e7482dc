#include "model/graph_trim.h"

#include <onnx/onnx_pb.h>

#include <climits>
#include <unordered_map>
#include <unordered_set>

namespace samcache {
namespace {

using NameSet = std::unordered_set<std::string>;

// Every name the nodes of `graph` and of its nested graphs read. A node with a subgraph (If,
// Loop, Scan) may read any name of the enclosing scopes from inside it; all of them count as
// its inputs, which may keep a little more than needed but never too little.
void AddSubgraphReads(const onnx::GraphProto& graph, std::vector<std::string>& reads) {
  for (const onnx::NodeProto& node : graph.node()) {
    for (const std::string& input : node.input()) reads.push_back(input);
    for (const onnx::AttributeProto& attribute : node.attribute()) {
      if (attribute.has_g()) AddSubgraphReads(attribute.g(), reads);
      for (const onnx::GraphProto& nested : attribute.graphs()) AddSubgraphReads(nested, reads);
    }
  }
}

// Keeps the elements of `field` for which `keep` holds, in order.
template <typename Element, typename Keep>
void KeepIf(google::protobuf::RepeatedPtrField<Element>& field, Keep keep) {
  google::protobuf::RepeatedPtrField<Element> kept;
  for (Element& element : field) {
    if (keep(element)) *kept.Add() = std::move(element);
  }
  field.Swap(&kept);
}

}  // namespace

Result<std::optional<TrimmedGraph>> TrimToOutputs(std::string_view bytes,
                                                  const std::vector<std::string>& outputs) {
  onnx::ModelProto model;
  if (bytes.size() > static_cast<size_t>(INT_MAX) ||
      !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::InvalidArgument("not an ONNX model");
  }
  onnx::GraphProto& graph = *model.mutable_graph();
  const NameSet wanted(outputs.begin(), outputs.end());
  NameSet graph_outputs;
  for (const onnx::ValueInfoProto& output : graph.output()) graph_outputs.insert(output.name());
  for (const std::string& name : outputs) {
    if (!graph_outputs.count(name)) return Status::InvalidArgument("the graph has no output '" + name + "'");
  }

  // Walk back from the wanted outputs to every node they need, whatever the nodes' order.
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < graph.node_size(); ++i) {
    for (const std::string& output : graph.node(i).output()) producer[output] = i;
  }
  std::vector<bool> keep_node(static_cast<size_t>(graph.node_size()), false);
  NameSet needed;
  std::vector<std::string> pending(outputs.begin(), outputs.end());
  while (!pending.empty()) {
    std::string name = std::move(pending.back());
    pending.pop_back();
    if (name.empty() || !needed.insert(name).second) continue;  // "" is an omitted optional input
    const auto found = producer.find(name);
    if (found == producer.end() || keep_node[static_cast<size_t>(found->second)]) continue;
    keep_node[static_cast<size_t>(found->second)] = true;
    const onnx::NodeProto& node = graph.node(found->second);
    pending.insert(pending.end(), node.input().begin(), node.input().end());
    for (const onnx::AttributeProto& attribute : node.attribute()) {
      if (attribute.has_g()) AddSubgraphReads(attribute.g(), pending);
      for (const onnx::GraphProto& nested : attribute.graphs()) AddSubgraphReads(nested, pending);
    }
  }

  TrimmedGraph trimmed;
  for (bool keep : keep_node) trimmed.removed_nodes += keep ? 0 : 1;
  if (trimmed.removed_nodes == 0 && graph.output_size() == static_cast<int>(wanted.size())) {
    return std::optional<TrimmedGraph>();
  }

  int index = 0;
  KeepIf(*graph.mutable_node(),
         [&](const onnx::NodeProto&) { return keep_node[static_cast<size_t>(index++)]; });
  KeepIf(*graph.mutable_output(),
         [&](const onnx::ValueInfoProto& output) { return wanted.count(output.name()) > 0; });
  // An initializer that is also a graph input (older exports) is that input's default: it stays
  // with the input, or a run would have to feed it.
  NameSet graph_inputs;
  for (const onnx::ValueInfoProto& input : graph.input()) graph_inputs.insert(input.name());
  KeepIf(*graph.mutable_initializer(), [&](const onnx::TensorProto& tensor) {
    return needed.count(tensor.name()) > 0 || graph_inputs.count(tensor.name()) > 0;
  });
  KeepIf(*graph.mutable_sparse_initializer(),
         [&](const onnx::SparseTensorProto& tensor) { return needed.count(tensor.values().name()) > 0; });
  KeepIf(*graph.mutable_value_info(),
         [&](const onnx::ValueInfoProto& value) { return needed.count(value.name()) > 0; });
  if (!model.SerializeToString(&trimmed.bytes)) return Status::Internal("cannot serialize the trimmed graph");
  return std::optional<TrimmedGraph>(std::move(trimmed));
}

}  // namespace samcache

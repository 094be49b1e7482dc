// Trimming an ONNX graph to the outputs clicks read (model/graph_trim.h): what goes, what stays,
// and that ONNX Runtime runs the trimmed graph to the same values.
#include "model/graph_trim.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <onnxruntime_cxx_api.h>

#include <string>
#include <vector>

#include "model/onnx_graph.h"

namespace samcache {
namespace {

void AddValue(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name) {
  onnx::ValueInfoProto* value = list->Add();
  value->set_name(name);
  onnx::TypeProto_Tensor* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  tensor->mutable_shape()->add_dim()->set_dim_value(3);
}

onnx::NodeProto* AddNode(onnx::GraphProto& graph, const std::string& op, std::vector<std::string> inputs,
                         const std::string& output) {
  onnx::NodeProto* node = graph.add_node();
  node->set_op_type(op);
  node->set_name(output + "_node");
  for (const std::string& input : inputs) node->add_input(input);
  node->add_output(output);
  return node;
}

void AddInitializer(onnx::GraphProto& graph, const std::string& name, float value) {
  onnx::TensorProto* tensor = graph.add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(onnx::TensorProto::FLOAT);
  tensor->add_dims(3);
  for (int i = 0; i < 3; ++i) tensor->add_float_data(value);
}

// x [3] -> kept = Relu(x) + one; dropped = Neg(kept) * two. Outputs: kept, dropped.
onnx::ModelProto TwoOutputs() {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(17);
  onnx::GraphProto& graph = *model.mutable_graph();
  graph.set_name("two_outputs");
  AddValue(graph.mutable_input(), "x");
  AddInitializer(graph, "one", 1.0f);
  AddInitializer(graph, "two", 2.0f);
  AddNode(graph, "Relu", {"x"}, "relu");
  AddNode(graph, "Add", {"relu", "one"}, "kept");
  AddNode(graph, "Neg", {"kept"}, "negated");
  AddNode(graph, "Mul", {"negated", "two"}, "dropped");
  AddValue(graph.mutable_output(), "kept");
  AddValue(graph.mutable_output(), "dropped");
  AddValue(graph.mutable_value_info(), "relu");
  AddValue(graph.mutable_value_info(), "negated");
  return model;
}

std::string Bytes(const onnx::ModelProto& model) {
  std::string bytes;
  EXPECT_TRUE(model.SerializeToString(&bytes));
  return bytes;
}

onnx::ModelProto Parse(const std::string& bytes) {
  onnx::ModelProto model;
  EXPECT_TRUE(model.ParseFromString(bytes));
  return model;
}

std::vector<std::string> NodeOutputs(const onnx::GraphProto& graph) {
  std::vector<std::string> names;
  for (const onnx::NodeProto& node : graph.node()) names.push_back(node.output(0));
  return names;
}

template <typename Field>
std::vector<std::string> Names(const Field& field) {
  std::vector<std::string> names;
  for (const auto& element : field) names.push_back(element.name());
  return names;
}

// `output` of the graph in `bytes` for x = {-1, 0, 2}, run by ONNX Runtime.
std::vector<float> RunFor(const std::string& bytes, const char* output) {
  Ort::Session session(OrtEnvironment(), bytes.data(), bytes.size(), Ort::SessionOptions());
  std::vector<float> x = {-1.0f, 0.0f, 2.0f};
  const int64_t shape[] = {3};
  Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value input = Ort::Value::CreateTensor<float>(cpu, x.data(), x.size(), shape, 1);
  const char* input_name = "x";
  std::vector<Ort::Value> out = session.Run(Ort::RunOptions{nullptr}, &input_name, &input, 1, &output, 1);
  const float* values = out[0].GetTensorData<float>();
  return std::vector<float>(values, values + 3);
}

TEST(GraphTrimTest, DropsTheNodesInitializersAndAnnotationsOnlyAnUnreadOutputNeeds) {
  Result<std::optional<TrimmedGraph>> trimmed = TrimToOutputs(Bytes(TwoOutputs()), {"kept"});
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().message();
  ASSERT_TRUE(trimmed->has_value());
  EXPECT_EQ((*trimmed)->removed_nodes, 2);
  const onnx::ModelProto model = Parse((*trimmed)->bytes);
  EXPECT_EQ(NodeOutputs(model.graph()), (std::vector<std::string>{"relu", "kept"}));
  EXPECT_EQ(Names(model.graph().output()), (std::vector<std::string>{"kept"}));
  EXPECT_EQ(Names(model.graph().input()), (std::vector<std::string>{"x"}));
  EXPECT_EQ(Names(model.graph().initializer()), (std::vector<std::string>{"one"}));
  EXPECT_EQ(Names(model.graph().value_info()), (std::vector<std::string>{"relu"}));
}

TEST(GraphTrimTest, OnnxRuntimeRunsTheTrimmedGraphToTheSameValues) {
  const std::string whole = Bytes(TwoOutputs());
  Result<std::optional<TrimmedGraph>> trimmed = TrimToOutputs(whole, {"kept"});
  ASSERT_TRUE(trimmed.ok() && trimmed->has_value());
  EXPECT_EQ(RunFor((*trimmed)->bytes, "kept"), RunFor(whole, "kept"));
  EXPECT_EQ(RunFor((*trimmed)->bytes, "kept"), (std::vector<float>{1.0f, 1.0f, 3.0f}));
  // The dropped output is gone from the trimmed graph.
  EXPECT_THROW(RunFor((*trimmed)->bytes, "dropped"), Ort::Exception);
}

TEST(GraphTrimTest, KeepsAnOutputTheWantedOneIsComputedFrom) {
  // Asking for "dropped" needs every node, "kept" included, but only "dropped" stays an output.
  Result<std::optional<TrimmedGraph>> trimmed = TrimToOutputs(Bytes(TwoOutputs()), {"dropped"});
  ASSERT_TRUE(trimmed.ok() && trimmed->has_value());
  EXPECT_EQ((*trimmed)->removed_nodes, 0);
  const onnx::ModelProto model = Parse((*trimmed)->bytes);
  EXPECT_EQ(model.graph().node_size(), 4);
  EXPECT_EQ(Names(model.graph().output()), (std::vector<std::string>{"dropped"}));
  EXPECT_EQ(RunFor((*trimmed)->bytes, "dropped"), (std::vector<float>{-2.0f, -2.0f, -6.0f}));
}

TEST(GraphTrimTest, NothingToTrimGivesNullopt) {
  Result<std::optional<TrimmedGraph>> trimmed = TrimToOutputs(Bytes(TwoOutputs()), {"dropped", "kept"});
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().message();
  EXPECT_FALSE(trimmed->has_value());
}

TEST(GraphTrimTest, FindsProducersWhateverTheNodeOrder) {
  onnx::ModelProto model = TwoOutputs();
  // Producers after their consumers: a walk that trusts the order would lose "relu".
  auto* nodes = model.mutable_graph()->mutable_node();
  for (int i = 0, j = nodes->size() - 1; i < j; ++i, --j) nodes->SwapElements(i, j);
  Result<std::optional<TrimmedGraph>> trimmed = TrimToOutputs(Bytes(model), {"kept"});
  ASSERT_TRUE(trimmed.ok() && trimmed->has_value());
  EXPECT_EQ(NodeOutputs(Parse((*trimmed)->bytes).graph()), (std::vector<std::string>{"kept", "relu"}));
}

TEST(GraphTrimTest, AnInitializerThatIsAlsoAnInputStays) {
  onnx::ModelProto model = TwoOutputs();
  AddValue(model.mutable_graph()->mutable_input(), "two");  // "two" is now an input with a default
  Result<std::optional<TrimmedGraph>> trimmed = TrimToOutputs(Bytes(model), {"kept"});
  ASSERT_TRUE(trimmed.ok() && trimmed->has_value());
  const onnx::ModelProto out = Parse((*trimmed)->bytes);
  EXPECT_EQ(Names(out.graph().initializer()), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(RunFor((*trimmed)->bytes, "kept"), (std::vector<float>{1.0f, 1.0f, 3.0f}));
}

TEST(GraphTrimTest, NamesASubgraphReadsFromOuterScopesAreKept) {
  // kept = If(cond) { then: Identity(relu) } else { Identity(relu) }; relu's producer must stay
  // though no node of the outer graph lists it as an input.
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(17);
  onnx::GraphProto& graph = *model.mutable_graph();
  graph.set_name("with_if");
  AddValue(graph.mutable_input(), "x");
  onnx::TensorProto* cond = graph.add_initializer();
  cond->set_name("cond");
  cond->set_data_type(onnx::TensorProto::BOOL);
  cond->add_int32_data(1);
  AddNode(graph, "Relu", {"x"}, "relu");
  AddNode(graph, "Neg", {"x"}, "unread");
  onnx::NodeProto* branch = AddNode(graph, "If", {"cond"}, "kept");
  for (const char* name : {"then_branch", "else_branch"}) {
    onnx::AttributeProto* attribute = branch->add_attribute();
    attribute->set_name(name);
    attribute->set_type(onnx::AttributeProto::GRAPH);
    onnx::GraphProto& body = *attribute->mutable_g();
    body.set_name(name);
    AddNode(body, "Identity", {"relu"}, std::string(name) + "_out");
    AddValue(body.mutable_output(), std::string(name) + "_out");
  }
  AddValue(graph.mutable_output(), "kept");
  AddValue(graph.mutable_output(), "unread");
  Result<std::optional<TrimmedGraph>> trimmed = TrimToOutputs(Bytes(model), {"kept"});
  ASSERT_TRUE(trimmed.ok() && trimmed->has_value());
  EXPECT_EQ((*trimmed)->removed_nodes, 1);
  EXPECT_EQ(NodeOutputs(Parse((*trimmed)->bytes).graph()), (std::vector<std::string>{"relu", "kept"}));
  EXPECT_EQ(RunFor((*trimmed)->bytes, "kept"), (std::vector<float>{0.0f, 0.0f, 2.0f}));
}

TEST(GraphTrimTest, RefusesWhatIsNotAModelAndOutputsItLacks) {
  Result<std::optional<TrimmedGraph>> garbage = TrimToOutputs("\xff\xff\xff not protobuf", {"kept"});
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(garbage.status().message(), "not an ONNX model");
  Result<std::optional<TrimmedGraph>> missing = TrimToOutputs(Bytes(TwoOutputs()), {"kept", "masks"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "the graph has no output 'masks'");
}

}  // namespace
}  // namespace samcache

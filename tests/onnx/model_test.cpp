// The imported model's runner and NodeContext (src/onnx/model.cpp): attribute and constant
// reads, the error prefix, constants and shape chains folded on the host, eager against
// graph, symbolic batch sizes.
#include <filesystem>

#include "duet/ops.h"
#include "loader_test_util.h"
#include "onnx/model_impl.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;
using ::onnx::TensorProto;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

// One NodeContext over a hand-made node, its inputs given as (tensor, constant?) pairs.
struct NodeFixture {
  ::onnx::NodeProto node;
  duet::onnx::Model::Impl impl;
  duet::onnx::detail::NodeInfo info;
  std::vector<Tensor> values;
  std::vector<uint8_t> constant;
  std::unique_ptr<duet::onnx::detail::NodeRun> run;
  std::unique_ptr<duet::onnx::detail::NodeContext> ctx;

  explicit NodeFixture(const std::vector<std::pair<Tensor, bool>>& inputs) {
    node.set_op_type("Test");
    node.set_name("t0");
    impl.path = "n.onnx";
    for (size_t i = 0; i < inputs.size(); ++i) {
      node.add_input(inputs[i].first.defined() ? "in" + std::to_string(i) : "");
      info.inputs.push_back(inputs[i].first.defined() ? static_cast<int>(i) : -1);
      values.push_back(inputs[i].first);
      constant.push_back(inputs[i].second ? 1 : 0);
    }
    info.proto = &node;
  }
  duet::onnx::detail::NodeContext& c() {
    run = std::make_unique<duet::onnx::detail::NodeRun>(
        duet::onnx::detail::NodeRun{info, impl, values, constant});
    ctx = std::make_unique<duet::onnx::detail::NodeContext>(node, 13, impl.path, *run);
    return *ctx;
  }
};

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(OnnxNodeContext, ReadsTypedAttributes) {
  NodeFixture f({});
  OnnxBuilder::attr_int(&f.node, "axis", -2);
  OnnxBuilder::attr_ints(&f.node, "perm", {2, 0, 1});
  auto* a = f.node.add_attribute();
  a->set_name("alpha");
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(0.25f);
  auto* s = f.node.add_attribute();
  s->set_name("mode");
  s->set_type(::onnx::AttributeProto::STRING);
  s->set_s("constant");
  auto* fs = f.node.add_attribute();
  fs->set_name("scales");
  fs->set_type(::onnx::AttributeProto::FLOATS);
  fs->add_floats(1.5f);
  auto* t = f.node.add_attribute();
  t->set_name("value");
  t->set_type(::onnx::AttributeProto::TENSOR);
  duet::onnx::detail::tensor_to_proto(Tensor::from_vector({1, 2}, {2}), "", t->mutable_t());
  auto& n = f.c();
  EXPECT_EQ(n.where(), "node 't0' (Test)");
  EXPECT_TRUE(n.has_attr("axis"));
  EXPECT_FALSE(n.has_attr("nope"));
  EXPECT_EQ(n.attr_int("axis", 0), -2);
  EXPECT_EQ(n.attr_int("nope", 7), 7);
  EXPECT_EQ(n.attr_ints("perm"), std::vector<int64_t>({2, 0, 1}));
  EXPECT_EQ(n.attr_float("alpha", 0), 0.25);
  EXPECT_EQ(n.attr_string("mode", ""), "constant");
  EXPECT_EQ(n.attr_floats("scales"), std::vector<double>({1.5}));
  EXPECT_EQ(n.attr_tensor("value").to_vector<double>(), std::vector<double>({1, 2}));
  n.expect_attrs({"axis", "perm", "alpha", "mode", "scales", "value"});

  EXPECT_THAT(error_of([&] { n.attr_int("alpha", 0); }),
              HasSubstr("onnx: n.onnx: node 't0' (Test): attribute 'alpha' has type FLOAT, "
                        "expected INT"));
  EXPECT_THAT(error_of([&] { n.attr_ints("axis"); }),
              HasSubstr("attribute 'axis' has type INT, expected INTS"));
  EXPECT_THAT(error_of([&] { n.attr_float("mode", 0); }),
              HasSubstr("attribute 'mode' has type STRING, expected FLOAT"));
  EXPECT_THAT(error_of([&] { n.attr_string("perm", ""); }),
              HasSubstr("attribute 'perm' has type INTS, expected STRING"));
  EXPECT_THAT(error_of([&] { n.attr_tensor("axis"); }),
              HasSubstr("attribute 'axis' has type INT, expected TENSOR"));
  EXPECT_THAT(error_of([&] { n.attr_tensor("missing"); }),
              HasSubstr("attribute 'missing' (a TENSOR) is missing"));
  EXPECT_THAT(error_of([&] {
                n.expect_attrs({"axis", "perm"});
              }),
              HasSubstr("attribute 'alpha' is not supported (supported: axis, perm)"));
  EXPECT_THAT(error_of([&] { n.fail("custom"); }),
              HasSubstr("onnx: n.onnx: node 't0' (Test): custom"));
}

TEST(OnnxNodeContext, ReadsHostileAttributeTensors) {
  NodeFixture f({});
  auto* t = f.node.add_attribute();
  t->set_name("value");
  t->set_type(::onnx::AttributeProto::TENSOR);
  t->mutable_t()->set_data_type(TensorProto::FLOAT);
  t->mutable_t()->add_dims(int64_t{1} << 40);
  EXPECT_THAT(error_of([&] { f.c().attr_tensor("value"); }),
              HasSubstr("onnx: n.onnx: node 't0' (Test): attribute 'value': shape "
                        "(1099511627776,) of FLOAT is more than"));
}

TEST(OnnxNodeContext, ReadsConstantInputs) {
  Tensor ints = Tensor::from_vector<int64_t>({3, -1}, {2});
  Tensor whole = Tensor::from_vector({2.0, 4.0}, {2});
  Tensor frac = Tensor::from_vector({2.5}, {1});
  NodeFixture f({{ints, true}, {whole, true}, {frac, true}, {Tensor(), false}, {ints, false}});
  auto& n = f.c();
  EXPECT_EQ(n.num_inputs(), 5u);
  EXPECT_TRUE(n.has_input(0));
  EXPECT_FALSE(n.has_input(3));
  EXPECT_FALSE(n.has_input(9));
  EXPECT_TRUE(n.is_constant(0));
  EXPECT_FALSE(n.is_constant(3));
  EXPECT_FALSE(n.is_constant(4));
  EXPECT_EQ(n.constant_ints(0), std::vector<int64_t>({3, -1}));
  EXPECT_EQ(n.constant_ints(1), std::vector<int64_t>({2, 4}));
  EXPECT_EQ(n.constant_doubles(2), std::vector<double>({2.5}));
  EXPECT_THAT(error_of([&] { n.constant_ints(2); }),
              HasSubstr("input 2 must hold integers, but element 0 is 2.5"));
  EXPECT_THAT(error_of([&] { n.input(3); }), HasSubstr("input 3 is missing"));
  EXPECT_THAT(error_of([&] { n.constant_ints(4); }),
              HasSubstr("node 't0' (Test): input 4 ('in4') must be an integer constant known "
                        "without the model's inputs"));
}

TEST(OnnxNodeContext, ConstantReadsLeaveNoHostReadInTheGraph) {
  Graph g;
  Tensor x = g.input("x", {2});
  Tensor shape = Tensor::from_vector<int64_t>({2, 1}, {2});
  NodeFixture f({{x, false}, {shape, true}});
  EXPECT_EQ(f.c().constant_ints(1), std::vector<int64_t>({2, 1}));
  Tensor y = duet::relu(x);
  auto exe = duet::compile(g, {y});
  EXPECT_EQ(exe.stale_reason(), "");
  shape.fill_(5);  // a host read would now make the executable stale
  EXPECT_EQ(exe.stale_reason(), "");
}

TEST(OnnxRegistry, TableIsSortedAndUnique) {
  auto ops = duet::onnx::supported_operators();
  EXPECT_TRUE(std::is_sorted(ops.begin(), ops.end()));
  EXPECT_EQ(std::adjacent_find(ops.begin(), ops.end()), ops.end());
  EXPECT_EQ(ops.size(), duet::onnx::detail::all_operators().size());
  for (const auto& op : ops) {
    const auto* d = duet::onnx::detail::find_operator(op);
    ASSERT_NE(d, nullptr) << op;
    EXPECT_EQ(op, d->op_type);
  }
  EXPECT_EQ(duet::onnx::detail::find_operator("NoSuchOp"), nullptr);
  EXPECT_EQ(duet::onnx::detail::find_operator(""), nullptr);
}

// x (N, 4) -> MatMul w (4, 3) -> Add b (3) -> Relu -> y (N, 3)
OnnxBuilder small_mlp() {
  OnnxBuilder b;
  b.input("x", TensorProto::FLOAT, {-1, 4});
  b.init("w", rand64({4, 3}, 1).to(float32));
  b.init("b", rand64({3}, 2).to(float32));
  b.node("MatMul", {"x", "w"}, {"xw"}, "mm");
  b.node("Add", {"xw", "b"}, {"pre"}, "add");
  b.node("Relu", {"pre"}, {"y"}, "relu");
  b.output("y", TensorProto::FLOAT, {-1, 3});
  return b;
}

TEST(OnnxModel, EagerMatchesGraphAtTwoBatchSizes) {
  DUET_NEED_OPS("MatMul", "Add", "Relu");
  auto m = small_mlp().load();
  for (int64_t n : {2, 5}) {
    Tensor x = rand64({n, 4}, 10 + static_cast<uint64_t>(n)).to(float32);
    Tensor eager = (*m)(x);
    ASSERT_EQ(eager.shape(), Shape({n, 3}));
    // Reference by hand: relu(x w + b).
    Tensor ref = duet::relu(duet::matmul(x, m->initializers().at("w")) + m->initializers().at("b"));
    expect_close(eager, ref);
    auto exe = m->compile({{n, 4}});
    Tensor graph = exe.run({{"x", x}})[0];
    expect_close(graph, eager, 1e-6, 1e-6);
  }
  EXPECT_EQ(m->operator_counts(),
            (std::map<std::string, int64_t>{{"Add", 1}, {"MatMul", 1}, {"Relu", 1}}));
  // The model's inputs are checked in graph mode too.
  Graph g;
  Tensor bad = g.input("x", {2, 5});
  EXPECT_THAT(error_of([&] { (*m)(bad); }),
              HasSubstr("input 'x' has shape (2, 5), the model expects (N, 4)"));
}

// x (N, 2, 3) -> Shape -> Gather(0) -> Unsqueeze -> Concat([n], [-1]) -> Reshape(x) -> (N, 6)
OnnxBuilder shape_chain(int64_t opset) {
  OnnxBuilder b(opset);
  b.input("x", TensorProto::FLOAT, {-1, 2, 3});
  b.init("zero", Tensor::scalar(0, int64));
  b.init("minus_one", Tensor::from_vector<int64_t>({-1}, {1}));
  b.node("Shape", {"x"}, {"shape"}, "shape");
  b.node("Gather", {"shape", "zero"}, {"n"}, "gather");
  if (opset >= 13) {
    b.init("axes", Tensor::from_vector<int64_t>({0}, {1}));
    b.node("Unsqueeze", {"n", "axes"}, {"n1"}, "unsqueeze");
  } else {
    OnnxBuilder::attr_ints(b.node("Unsqueeze", {"n"}, {"n1"}, "unsqueeze"), "axes", {0});
  }
  OnnxBuilder::attr_int(b.node("Concat", {"n1", "minus_one"}, {"target"}, "concat"), "axis", 0);
  b.node("Reshape", {"x", "target"}, {"y"}, "reshape");
  b.output("y", TensorProto::FLOAT, {-1, 6});
  return b;
}

TEST(OnnxModel, ShapeChainsFoldOnTheHost) {
  DUET_NEED_OPS("Shape", "Gather", "Unsqueeze", "Concat", "Reshape");
  for (int64_t opset : {11, 13}) {
    auto m = shape_chain(opset).load();
    Tensor x = rand64({3, 2, 3}, 4).to(float32);
    Tensor eager = (*m)(x);
    EXPECT_EQ(eager.shape(), Shape({3, 6}));
    EXPECT_EQ(eager.to_vector<double>(), x.to_vector<double>());
    Graph g;
    Tensor y = (*m)(g.input("x", {4, 2, 3}));
    EXPECT_EQ(y.shape(), Shape({4, 6}));
    const std::string dump = g.dump();
    // Only the input and the reshape were recorded: Shape -> ... -> Concat ran on the host.
    EXPECT_EQ(g.num_nodes(), 2u) << dump;
    EXPECT_THAT(dump, HasSubstr("reshape"));
    EXPECT_THAT(dump, Not(HasSubstr("gather")));
    EXPECT_THAT(dump, Not(HasSubstr("cat")));
    auto exe = duet::compile(g, {y});
    Tensor x4 = rand64({4, 2, 3}, 5).to(float32);
    EXPECT_EQ(exe.run({{"x", x4}})[0].to_vector<double>(), x4.to_vector<double>());
    EXPECT_EQ(exe.stale_reason(), "");
  }
}

TEST(OnnxModel, InitializerOnlySubgraphsFoldAtLoad) {
  DUET_NEED_OPS("Mul", "MatMul");
  OnnxBuilder b;
  b.input("x", TensorProto::FLOAT, {2, 2});
  b.init("w", Tensor::from_vector({1, 2, 3, 4}, {2, 2}));
  b.init("scale", Tensor::from_vector({10}, {1}));
  b.node("Mul", {"w", "scale"}, {"ws"}, "scale_w");  // initializers only
  b.node("MatMul", {"x", "ws"}, {"y"}, "mm");
  b.output("y", TensorProto::FLOAT, {2, 2});
  Tensor x = Tensor::from_vector({1, 0, 0, 1}, {2, 2});
  auto folded = b.load();
  auto per_call = b.load({.fold_constants = false});
  EXPECT_EQ(folded->impl().run_order, std::vector<int>({1}));
  EXPECT_EQ(per_call->impl().run_order, std::vector<int>({0, 1}));
  const std::vector<double> want = {10, 20, 30, 40};
  EXPECT_EQ((*folded)(x).to_vector<double>(), want);
  EXPECT_EQ((*per_call)(x).to_vector<double>(), want);
  {
    Graph g;  // a load while a graph records folds eagerly too: nothing is recorded
    auto m = b.load();
    EXPECT_EQ(g.num_nodes(), 0u) << g.dump();
    EXPECT_EQ(m->impl().run_order, std::vector<int>({1}));
  }
  // Per call, the constant node still runs on the host while a graph records.
  for (auto* m : {folded.get(), per_call.get()}) {
    Graph g;
    Tensor y = (*m)(g.input("x", {2, 2}));
    EXPECT_THAT(g.dump(), Not(HasSubstr("= mul"))) << g.dump();
    EXPECT_EQ(g.num_nodes(), 3u) << g.dump();  // input, capture, matmul
    EXPECT_EQ(duet::compile(g, {y}).run({{"x", x}})[0].to_vector<double>(), want);
  }
}

TEST(OnnxModel, ConverterErrorsNameTheNode) {
  DUET_NEED_OPS("Reshape", "Relu");
  OnnxBuilder b;
  b.input("x", TensorProto::FLOAT, {2, 3});
  b.input("s", TensorProto::INT64, {2});
  b.node("Relu", {"x"}, {"r"}, "relu");
  b.node("Reshape", {"r", "s"}, {"y"}, "reshape_from_input");
  b.output("y", TensorProto::FLOAT, {3, 2});
  auto m = b.load();
  std::string e = error_of([&] {
    m->forward_many({Tensor::zeros({2, 3}), Tensor::from_vector<int64_t>({3, 2}, {2})});
  });
  EXPECT_THAT(e, HasSubstr("onnx: test.onnx: node 'reshape_from_input' (Reshape): "));
  // The prefix is not repeated when the converter already used n.fail().
  EXPECT_EQ(e.find("onnx: test.onnx: node"), e.rfind("onnx: test.onnx: node")) << e;
}

TEST(OnnxModel, ConstantOutputsAndFoldedViewsCompile) {
  DUET_NEED_OPS("Shape", "Transpose", "MatMul");
  OnnxBuilder b;
  b.input("x", TensorProto::FLOAT, {2, 3});
  b.init("w", Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}));
  OnnxBuilder::attr_ints(b.node("Transpose", {"w"}, {"wt"}, "t"), "perm", {1, 0});  // a view
  b.node("MatMul", {"x", "wt"}, {"y"}, "mm");
  b.node("Shape", {"x"}, {"s"}, "shape");  // a graph output known without x's values
  b.output("y", TensorProto::FLOAT, {2, 2});
  b.output("s", TensorProto::INT64, {2});
  b.output("w", TensorProto::FLOAT, {2, 3});  // an initializer as an output
  auto m = b.load();
  Tensor x = Tensor::from_vector({1, 0, 0, 0, 1, 0}, {2, 3});
  auto eager = m->forward_many({x});
  EXPECT_EQ(eager[0].to_vector<double>(), std::vector<double>({1, 4, 2, 5}));
  EXPECT_EQ(eager[1].to_vector<int64_t>(), std::vector<int64_t>({2, 3}));
  auto exe = m->compile({{2, 3}});
  auto graph = exe.run({{"x", x}});
  ASSERT_EQ(graph.size(), 3u);
  EXPECT_EQ(graph[0].to_vector<double>(), eager[0].to_vector<double>());
  EXPECT_EQ(graph[1].to_vector<int64_t>(), std::vector<int64_t>({2, 3}));
  EXPECT_EQ(graph[2].to_vector<double>(), eager[2].to_vector<double>());
}

TEST(OnnxModel, WrongAttributeTypesNameTheAttribute) {
  DUET_NEED_OPS("Softmax");
  OnnxBuilder b;
  b.input("x", TensorProto::FLOAT, {2, 3});
  auto* n = b.node("Softmax", {"x"}, {"y"}, "sm");
  auto* a = n->add_attribute();
  a->set_name("axis");
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(1.0f);
  b.output("y", TensorProto::FLOAT, {2, 3});
  auto m = b.load();
  EXPECT_THAT(error_of([&] {
                (*m)(Tensor::zeros({2, 3}));
              }),
              HasSubstr("onnx: test.onnx: node 'sm' (Softmax): attribute 'axis' has type FLOAT, "
                        "expected INT"));
}

}  // namespace

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
  EXPECT_THAT(error_of([&] { n.expect_attrs({"axis", "perm"}); }),
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

}  // namespace

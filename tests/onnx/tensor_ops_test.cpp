// The importer's tensor-math and shape operators (src/onnx/import_{math,shape,reduce}_ops.cpp):
// one-node models built with the generated protobuf classes, run eagerly and compiled, against
// hand-computed values; int64 and broadcasting cases; errors for what is not supported; and the
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain torch.onnx writes for
// x.view(x.size(0), -1), which must reach the compiled graph as one static reshape.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "duet/graph.h"
#include "duet/onnx.h"
#include "duet/ops.h"
#include "onnx/loader_test_util.h"
#include "onnx/proto.h"

namespace duet {
namespace {

using ::onnx::TensorProto;

// A small ONNX model in memory: inputs with example values (their shapes are the declared
// shapes), initializers, nodes, typed outputs.
class Net {
 public:
  explicit Net(int64_t opset = 13) {
    m_.set_ir_version(8);
    m_.set_producer_name("tensor-ops-test");
    auto* o = m_.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    m_.mutable_graph()->set_name("g");
  }
  Net& in(const std::string& name, const Tensor& value) {
    auto* v = m_.mutable_graph()->add_input();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::detail::onnx_dtype(value.dtype()));
    auto* shape = tt->mutable_shape();
    for (int64_t d : value.shape()) shape->add_dim()->set_dim_value(d);
    feeds_[name] = value;
    order_.push_back(name);
    return *this;
  }
  Net& init(const std::string& name, const Tensor& value) {
    onnx::detail::tensor_to_proto(value, name, m_.mutable_graph()->add_initializer());
    return *this;
  }
  ::onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs) {
    auto* n = m_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(m_.graph().node_size()));
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }
  Net& out(const std::string& name, int32_t elem = TensorProto::FLOAT) {
    auto* v = m_.mutable_graph()->add_output();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(elem);
    return *this;
  }
  std::shared_ptr<onnx::Model> load() const {
    const std::string bytes = m_.SerializeAsString();
    return onnx::load_from_memory(bytes.data(), bytes.size(), "test.onnx");
  }
  // Runs eagerly and compiled; the outputs must agree (exactly: the same kernels run).
  std::vector<Tensor> run(std::string* graph_dump = nullptr) const {
    auto model = load();
    std::vector<Tensor> eager = model->run(feeds_);
    std::vector<Shape> shapes;
    for (const auto& name : order_) shapes.push_back(feeds_.at(name).shape());
    Executable exe = model->compile(shapes);
    if (graph_dump) *graph_dump = exe.dump();
    std::vector<Tensor> graph = exe.run(feeds_);
    EXPECT_EQ(eager.size(), graph.size());
    for (size_t i = 0; i < eager.size() && i < graph.size(); ++i) {
      EXPECT_EQ(eager[i].shape(), graph[i].shape()) << "output " << i;
      EXPECT_EQ(eager[i].dtype(), graph[i].dtype()) << "output " << i;
      if (eager[i].shape() == graph[i].shape() && eager[i].dtype() == graph[i].dtype()) {
        const std::vector<double> e = values(eager[i]), g = values(graph[i]);
        for (size_t k = 0; k < e.size(); ++k) {
          if (!(std::isnan(e[k]) && std::isnan(g[k]))) {
            EXPECT_EQ(e[k], g[k]) << "output " << i << " element " << k << " eager vs graph";
          }
        }
      }
    }
    return eager;
  }
  std::string error() const {
    try {
      run();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  static std::vector<double> values(const Tensor& t) {
    return t.contiguous().to(float64).to_vector<double>();
  }

 private:
  ::onnx::ModelProto m_;
  std::map<std::string, Tensor> feeds_;
  std::vector<std::string> order_;
};

using test::attr;
using test::attr_f;
using test::attr_s;
using test::attr_t;

Tensor f32(std::vector<double> v, Shape s) {
  return Tensor::from_vector(v, s, float32);
}
Tensor i64(std::vector<int64_t> v, Shape s) {
  return Tensor::from_vector(v, s, int64);
}
Tensor i64(std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return Tensor::from_vector(v, Shape{n}, int64);
}
// 0, 1, 2, ... as float32 of shape s
Tensor iota(Shape s) {
  std::vector<double> v(static_cast<size_t>(numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return f32(v, s);
}
std::vector<double> vals(const Tensor& t) {
  return Net::values(t);
}
using Dv = std::vector<double>;

// ---- elementwise math ----

TEST(OnnxTensorOps, AddBroadcastsAndSubMulDiv) {
  Net net;
  net.in("a", iota({2, 1, 3})).in("b", f32({10, 20}, {2, 1}));
  net.node("Add", {"a", "b"}, {"s"});
  net.node("Sub", {"a", "b"}, {"d"});
  net.node("Mul", {"a", "b"}, {"m"});
  net.node("Div", {"a", "b"}, {"q"});
  net.out("s").out("d").out("m").out("q");
  auto r = net.run();
  EXPECT_EQ(r[0].shape(), Shape({2, 2, 3}));
  EXPECT_EQ(vals(r[0]), Dv({10, 11, 12, 20, 21, 22, 13, 14, 15, 23, 24, 25}));
  EXPECT_EQ(vals(r[1]), Dv({-10, -9, -8, -20, -19, -18, -7, -6, -5, -17, -16, -15}));
  EXPECT_EQ(vals(r[2]), Dv({0, 10, 20, 0, 20, 40, 30, 40, 50, 60, 80, 100}));
  EXPECT_NEAR(vals(r[3])[5], 0.1, 1e-7);  // 2 / 20
}

TEST(OnnxTensorOps, Int64ArithmeticNegAbsSign) {
  Net net;
  net.in("a", i64({-7, 0, 9})).init("b", i64({2, 3, -4}));
  net.node("Div", {"a", "b"}, {"q"});  // truncates toward zero, as ONNX Runtime
  net.node("Mul", {"a", "b"}, {"m"});
  net.node("Neg", {"a"}, {"n"});
  net.node("Abs", {"a"}, {"abs"});
  net.node("Sign", {"a"}, {"sg"});
  for (const char* o : {"q", "m", "n", "abs", "sg"}) net.out(o, TensorProto::INT64);
  auto r = net.run();
  EXPECT_EQ(r[0].dtype(), int64);
  EXPECT_EQ(vals(r[0]), Dv({-3, 0, -2}));
  EXPECT_EQ(vals(r[1]), Dv({-14, 0, -36}));
  EXPECT_EQ(vals(r[2]), Dv({7, 0, -9}));
  EXPECT_EQ(vals(r[3]), Dv({7, 0, 9}));
  EXPECT_EQ(vals(r[4]), Dv({-1, 0, 1}));
}

TEST(OnnxTensorOps, IntegerDivisionByZeroOrComputedDivisorIsAnError) {
  Net zero;
  zero.in("a", i64({1, 2})).init("b", i64({1, 0}));
  zero.node("Div", {"a", "b"}, {"q"});
  zero.out("q", TensorProto::INT64);
  EXPECT_THAT(zero.error(), ::testing::HasSubstr("node 'Div_1' (Div): integer division by zero"));
  Net computed;
  computed.in("a", i64({1, 2})).in("b", i64({1, 2}));
  computed.node("Div", {"a", "b"}, {"q"});
  computed.out("q", TensorProto::INT64);
  EXPECT_THAT(computed.error(), ::testing::HasSubstr("computed divisor is not supported"));
}

TEST(OnnxTensorOps, PowUnaryAndVariadic) {
  Net net;
  net.in("x", f32({1, 4, 9}, {3})).in("y", f32({2, 0.5, 1}, {3})).init("two", f32({2}, {}));
  net.in("z", f32({3, 3, 3}, {3}));
  net.node("Pow", {"x", "two"}, {"p2"});
  net.node("Pow", {"x", "y"}, {"pxy"});
  net.node("Sqrt", {"x"}, {"sq"});
  net.node("Reciprocal", {"x"}, {"rc"});
  net.node("Max", {"x", "y", "z"}, {"mx"});
  net.node("Min", {"x", "y", "z"}, {"mn"});
  net.node("Sum", {"x", "y", "z"}, {"sm"});
  net.node("Mean", {"x", "y", "z"}, {"me"});
  for (const char* o : {"p2", "pxy", "sq", "rc", "mx", "mn", "sm", "me"}) net.out(o);
  auto r = net.run();
  EXPECT_EQ(vals(r[0]), Dv({1, 16, 81}));
  const Dv pxy = vals(r[1]);
  EXPECT_NEAR(pxy[0], 1, 1e-6);
  EXPECT_NEAR(pxy[1], 2, 1e-6);
  EXPECT_NEAR(pxy[2], 9, 1e-5);
  EXPECT_EQ(vals(r[2]), Dv({1, 2, 3}));
  EXPECT_NEAR(vals(r[3])[1], 0.25, 1e-7);
  EXPECT_EQ(vals(r[4]), Dv({3, 4, 9}));
  EXPECT_EQ(vals(r[5]), Dv({1, 0.5, 1}));
  EXPECT_EQ(vals(r[6]), Dv({6, 7.5, 13}));
  EXPECT_NEAR(vals(r[7])[2], 13.0 / 3, 1e-6);
}

TEST(OnnxTensorOps, ComparisonsLogicWhereCast) {
  Net net;
  net.in("a", f32({1, 2, 3}, {3})).in("b", f32({2}, {1}));
  net.node("Less", {"a", "b"}, {"lt"});
  net.node("GreaterOrEqual", {"a", "b"}, {"ge"});
  net.node("Equal", {"a", "b"}, {"eq"});
  net.node("Not", {"lt"}, {"nlt"});
  net.node("Or", {"lt", "eq"}, {"le"});
  net.node("And", {"ge", "nlt"}, {"ge2"});
  net.node("Where", {"lt", "a", "b"}, {"w"});
  attr(net.node("Cast", {"ge"}, {"gi"}), "to", int64_t{TensorProto::INT32});
  attr(net.node("Cast", {"a"}, {"ad"}), "to", int64_t{TensorProto::DOUBLE});
  for (const char* o : {"lt", "ge", "eq", "nlt", "le", "ge2"}) net.out(o, TensorProto::BOOL);
  net.out("w").out("gi", TensorProto::INT64).out("ad", TensorProto::DOUBLE);
  auto r = net.run();
  EXPECT_EQ(r[0].dtype(), bool_);
  EXPECT_EQ(vals(r[0]), Dv({1, 0, 0}));
  EXPECT_EQ(vals(r[1]), Dv({0, 1, 1}));
  EXPECT_EQ(vals(r[2]), Dv({0, 1, 0}));
  EXPECT_EQ(vals(r[3]), Dv({0, 1, 1}));
  EXPECT_EQ(vals(r[4]), Dv({1, 1, 0}));
  EXPECT_EQ(vals(r[5]), Dv({0, 1, 1}));
  EXPECT_EQ(vals(r[6]), Dv({1, 2, 2}));
  EXPECT_EQ(r[7].dtype(), int64);
  EXPECT_EQ(vals(r[7]), Dv({0, 1, 1}));
  EXPECT_EQ(r[8].dtype(), float64);
}

TEST(OnnxTensorOps, CastToUnsupportedTypeNamesIt) {
  Net net;
  net.in("a", f32({1}, {1}));
  attr(net.node("Cast", {"a"}, {"h"}), "to", int64_t{TensorProto::FLOAT16});
  net.out("h");
  EXPECT_THAT(net.error(), ::testing::HasSubstr("target type FLOAT16 is not supported"));
}

TEST(OnnxTensorOps, FloorCeilRoundModComposed) {
  const double inf = std::numeric_limits<double>::infinity();
  Net net(13);
  const double big = static_cast<double>(1e30f);
  net.in("x", f32({-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.3, 0.7, 16777216, -inf, big}, {11}));
  net.in("a", i64({7, -7, 7, -7, 0})).init("b", i64({3, 3, -3, -3, 5}));
  net.node("Floor", {"x"}, {"fl"});
  net.node("Ceil", {"x"}, {"ce"});
  net.node("Round", {"x"}, {"ro"});
  net.node("Mod", {"a", "b"}, {"py"});
  attr(net.node("Mod", {"a", "b"}, {"c"}), "fmod", int64_t{1});
  net.out("fl").out("ce").out("ro").out("py", TensorProto::INT64).out("c", TensorProto::INT64);
  auto r = net.run();
  EXPECT_EQ(vals(r[0]), Dv({-3, -2, -1, 0, 1, 2, -1, 0, 16777216, -inf, big}));
  EXPECT_EQ(vals(r[1]), Dv({-2, -1, -0.0, 1, 2, 3, -0.0, 1, 16777216, -inf, big}));
  EXPECT_EQ(vals(r[2]), Dv({-2, -2, -0.0, 0, 2, 2, -0.0, 1, 16777216, -inf, big}));
  EXPECT_EQ(vals(r[3]), Dv({1, 2, -2, -1, 0}));  // Python's %: the divisor's sign
  EXPECT_EQ(vals(r[4]), Dv({1, -1, 1, -1, 0}));  // C's %: the dividend's sign
  Net nan;
  nan.in("x", f32({NAN}, {1}));
  nan.node("Floor", {"x"}, {"y"});
  nan.out("y");
  EXPECT_TRUE(std::isnan(vals(nan.run()[0])[0]));
}

// ---- shapes ----

TEST(OnnxTensorOps, FlattenReshapeTransposeConcat) {
  Net net;
  net.in("x", iota({2, 3, 4})).init("shape", i64({0, -1, 2})).init("s2", i64({4, 0}));
  attr(net.node("Flatten", {"x"}, {"f"}), "axis", int64_t{-1});
  attr(net.node("Flatten", {"x"}, {"f0"}), "axis", int64_t{0});
  net.node("Reshape", {"x", "shape"}, {"r"});
  net.node("Transpose", {"x"}, {"t"});
  attr(net.node("Transpose", {"x"}, {"t2"}), "perm", std::vector<int64_t>{1, 0, 2});
  attr(net.node("Concat", {"x", "x"}, {"c"}), "axis", int64_t{-2});
  net.out("f").out("f0").out("r").out("t").out("t2").out("c");
  auto r = net.run();
  EXPECT_EQ(r[0].shape(), Shape({6, 4}));
  EXPECT_EQ(r[1].shape(), Shape({1, 24}));
  EXPECT_EQ(r[2].shape(), Shape({2, 6, 2}));
  EXPECT_EQ(r[3].shape(), Shape({4, 3, 2}));
  EXPECT_EQ(vals(r[3])[1], 12);  // t[0][0][1] = x[1][0][0]
  EXPECT_EQ(r[4].shape(), Shape({3, 2, 4}));
  EXPECT_EQ(vals(r[4])[4], 12);  // t2[0][1][0] = x[1][0][0]
  EXPECT_EQ(r[5].shape(), Shape({2, 6, 4}));
  EXPECT_EQ(vals(r[5])[12], 0);  // the second copy starts at row 3
}

// Converters that change nothing return their input: a model output may then be a graph input.
TEST(OnnxTensorOps, NoOpShapeOpsPassTheInputThrough) {
  Net net;
  net.in("x", iota({2, 3})).init("shape", i64({2, 3})).init("axes", i64(std::vector<int64_t>{}));
  net.node("Reshape", {"x", "shape"}, {"r"});
  attr(net.node("Transpose", {"x"}, {"t"}), "perm", std::vector<int64_t>{0, 1});
  net.node("Squeeze", {"x", "axes"}, {"s"});
  net.out("r").out("t").out("s");
  auto r = net.run();
  for (const Tensor& t : r) EXPECT_EQ(vals(t), vals(iota({2, 3})));
}

TEST(OnnxTensorOps, ReshapeAllowzeroAndErrors) {
  Net zero(14);
  zero.in("x", Tensor::zeros({0, 3})).init("shape", i64({3, 0}));
  attr(zero.node("Reshape", {"x", "shape"}, {"r"}), "allowzero", int64_t{1});
  zero.out("r");
  EXPECT_EQ(zero.run()[0].shape(), Shape({3, 0}));
  Net bad;
  bad.in("x", iota({2, 3})).init("shape", i64({4, -1, -1}));
  bad.node("Reshape", {"x", "shape"}, {"r"});
  bad.out("r");
  EXPECT_THAT(bad.error(),
              ::testing::HasSubstr("(Reshape): shape (4, -1, -1) has more than one -1"));
  Net computed;
  computed.in("x", iota({2, 3})).in("shape", i64({3, 2}));
  computed.node("Reshape", {"x", "shape"}, {"r"});
  computed.out("r");
  EXPECT_THAT(computed.error(),
              ::testing::HasSubstr("shape (input 1) is computed at run time: not supported"));
}

TEST(OnnxTensorOps, SqueezeUnsqueezeAttributeAndInputForms) {
  for (int64_t opset : {11, 13}) {
    Net net(opset);
    net.in("x", iota({1, 3, 1}));
    auto* sq = net.node("Squeeze", {"x"}, {"s"});
    auto* un = net.node("Unsqueeze", {"x"}, {"u"});
    if (opset < 13) {
      attr(sq, "axes", std::vector<int64_t>{-1});
      attr(un, "axes", std::vector<int64_t>{0, -1});
    } else {
      net.init("sq_axes", i64({-1})).init("un_axes", i64({0, -1}));
      sq->add_input("sq_axes");
      un->add_input("un_axes");
    }
    net.node("Squeeze", {"x"}, {"all"});
    net.out("s").out("u").out("all");
    auto r = net.run();
    EXPECT_EQ(r[0].shape(), Shape({1, 3})) << "opset " << opset;
    EXPECT_EQ(r[1].shape(), Shape({1, 1, 3, 1, 1})) << "opset " << opset;
    EXPECT_EQ(r[2].shape(), Shape({3})) << "opset " << opset;
  }
  Net bad;
  bad.in("x", iota({2, 3})).init("axes", i64({0}));
  bad.node("Squeeze", {"x", "axes"}, {"s"});
  bad.out("s");
  EXPECT_THAT(bad.error(),
              ::testing::HasSubstr("axis 0 of the input (2, 3) has size 2 (expected 1)"));
}

TEST(OnnxTensorOps, PadConstantNegativeEdgeReflect) {
  // x = [[0 1 2], [3 4 5]]
  Net net;
  net.in("x", iota({2, 3})).init("pads", i64({0, 1, 1, 2})).init("crop", i64({0, -1, 1, 1}));
  net.init("v", f32({9}, {}));
  net.node("Pad", {"x", "pads", "v"}, {"c"});
  attr_s(net.node("Pad", {"x", "pads"}, {"e"}), "mode", "edge");
  attr_s(net.node("Pad", {"x", "pads"}, {"r"}), "mode", "reflect");
  net.node("Pad", {"x", "crop"}, {"k"});
  net.out("c").out("e").out("r").out("k");
  auto r = net.run();
  EXPECT_EQ(r[0].shape(), Shape({3, 6}));
  EXPECT_EQ(vals(r[0]), Dv({9, 0, 1, 2, 9, 9, 9, 3, 4, 5, 9, 9, 9, 9, 9, 9, 9, 9}));
  EXPECT_EQ(vals(r[1]), Dv({0, 0, 1, 2, 2, 2, 3, 3, 4, 5, 5, 5, 3, 3, 4, 5, 5, 5}));
  EXPECT_EQ(vals(r[2]), Dv({1, 0, 1, 2, 1, 0, 4, 3, 4, 5, 4, 3, 1, 0, 1, 2, 1, 0}));
  EXPECT_EQ(r[3].shape(), Shape({3, 3}));
  EXPECT_EQ(vals(r[3]), Dv({1, 2, 0, 4, 5, 0, 0, 0, 0}));
  Net old(10);  // pads and value as attributes before opset 11
  old.in("x", iota({2}));
  auto* p = old.node("Pad", {"x"}, {"y"});
  attr(p, "pads", std::vector<int64_t>{1, 0});
  attr_f(p, "value", -1.0f);
  old.out("y");
  EXPECT_EQ(vals(old.run()[0]), Dv({-1, 0, 1}));
}

TEST(OnnxTensorOps, ExpandTileSplit) {
  Net net;
  net.in("x", f32({1, 2}, {2, 1})).init("shape", i64({2, 1, 3})).init("reps", i64({2, 2}));
  net.init("split", i64({1, 2}));
  net.node("Expand", {"x", "shape"}, {"e"});
  net.node("Tile", {"x", "reps"}, {"t"});
  net.in("y", iota({3, 2}));
  net.node("Split", {"y", "split"}, {"s0", "s1"});
  attr(net.node("Split", {"y"}, {"h0", "h1"}), "axis", int64_t{1});
  net.out("e").out("t").out("s0").out("s1").out("h0").out("h1");
  auto r = net.run();
  EXPECT_EQ(r[0].shape(), Shape({2, 2, 3}));
  EXPECT_EQ(vals(r[0]), Dv({1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(r[1].shape(), Shape({4, 2}));
  EXPECT_EQ(vals(r[1]), Dv({1, 1, 2, 2, 1, 1, 2, 2}));
  EXPECT_EQ(vals(r[2]), Dv({0, 1}));
  EXPECT_EQ(vals(r[3]), Dv({2, 3, 4, 5}));
  EXPECT_EQ(vals(r[4]), Dv({0, 2, 4}));
  EXPECT_EQ(vals(r[5]), Dv({1, 3, 5}));
}

TEST(OnnxTensorOps, SliceClampsAndNegativeSteps) {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  Net net;
  net.in("x", iota({2, 5})).init("x_const", iota({5}));
  net.init("s", i64({-100, 1})).init("e", i64({kMax, kMax})).init("a", i64({0, 1}));
  net.init("st", i64({1, 2}));
  net.node("Slice", {"x", "s", "e", "a", "st"}, {"y"});
  net.init("rs", i64({-1})).init("re", i64({-kMax})).init("ra", i64({1})).init("rst", i64({-2}));
  net.node("Slice", {"x", "rs", "re", "ra", "rst"}, {"rev"});
  net.init("rs0", i64({10})).init("rst0", i64({-1})).init("ra0", i64({0}));
  net.node("Slice", {"x_const", "rs0", "re", "ra0", "rst0"}, {"rev_const"});
  net.node("Add", {"x", "rev_const"}, {"sum"});  // the folded constant used by the graph
  net.out("y").out("rev").out("sum");
  auto r = net.run();
  EXPECT_EQ(r[0].shape(), Shape({2, 2}));
  EXPECT_EQ(vals(r[0]), Dv({1, 3, 6, 8}));
  EXPECT_EQ(vals(r[1]), Dv({4, 2, 0, 9, 7, 5}));
  EXPECT_EQ(vals(r[2]), Dv({4, 4, 4, 4, 4, 9, 9, 9, 9, 9}));
  // A negative step over an empty axis: empty.
  Net empty;
  empty.in("x", Tensor::zeros({0, 3})).init("s", i64({-1})).init("e", i64({-kMax}));
  empty.init("a", i64({0})).init("st", i64({-1}));
  empty.node("Slice", {"x", "s", "e", "a", "st"}, {"y"});
  empty.out("y");
  EXPECT_EQ(empty.run()[0].shape(), Shape({0, 3}));
  // A flip of a long computed axis: past 256 slices it becomes one selection matmul.
  Net flip;
  flip.in("x", iota({2, 300})).init("s", i64({-1})).init("e", i64({-kMax})).init("a", i64({1}));
  flip.init("st", i64({-1}));
  flip.node("Slice", {"x", "s", "e", "a", "st"}, {"y"});
  flip.out("y");
  const Dv fv = vals(flip.run()[0]);
  ASSERT_EQ(fv.size(), 600u);
  EXPECT_EQ(fv[0], 299);
  EXPECT_EQ(fv[299], 0);
  EXPECT_EQ(fv[300], 599);
  Net old(9);  // attributes before opset 10
  old.in("x", iota({4}));
  auto* s = old.node("Slice", {"x"}, {"y"});
  attr(s, "starts", std::vector<int64_t>{1});
  attr(s, "ends", std::vector<int64_t>{-1});
  old.out("y");
  EXPECT_EQ(vals(old.run()[0]), Dv({1, 2}));
}

TEST(OnnxTensorOps, GatherConstantAndComputedData) {
  Net net;
  net.in("x", iota({3, 2}))
      .init("table", i64({10, 20, 30}))
      .init("idx", i64({2, -3, 1, 2}, {2, 2}));
  net.init("one", i64({1}, {}));
  net.node("Gather", {"x", "idx"}, {"g"});
  attr(net.node("Gather", {"x", "one"}, {"g1"}), "axis", int64_t{1});
  net.node("Gather", {"table", "idx"}, {"gt"});
  net.out("g").out("g1").out("gt", TensorProto::INT64);
  auto r = net.run();  // "gt" is a constant (gathered on the host)
  EXPECT_EQ(r[0].shape(), Shape({2, 2, 2}));
  EXPECT_EQ(vals(r[0]), Dv({4, 5, 0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(r[1].shape(), Shape({3}));
  EXPECT_EQ(vals(r[1]), Dv({1, 3, 5}));
  EXPECT_EQ(vals(r[2]), Dv({30, 10, 20, 30}));
  // Computed indices (an embedding lookup): a one-hot matmul, float data.
  Net emb;
  emb.in("ids", i64({2, -1, 0}, {3})).init("w", iota({3, 2})).in("x", iota({2, 3, 2}));
  emb.in("j", i64({1, 2, -3, 0}, {2, 2}));
  emb.node("Gather", {"w", "ids"}, {"e"});
  attr(emb.node("Gather", {"x", "j"}, {"g1"}), "axis", int64_t{1});
  emb.out("e").out("g1");
  auto e = emb.run();
  EXPECT_EQ(e[0].shape(), Shape({3, 2}));
  EXPECT_EQ(vals(e[0]), Dv({4, 5, 4, 5, 0, 1}));
  EXPECT_EQ(e[1].shape(), Shape({2, 2, 2, 2}));  // (pre 2, idx 2x2, post 2)
  EXPECT_EQ(vals(e[1]), Dv({2, 3, 4, 5, 0, 1, 0, 1, 8, 9, 10, 11, 6, 7, 6, 7}));
  Net bad;
  bad.in("x", iota({3})).init("idx", i64({3}));
  bad.node("Gather", {"x", "idx"}, {"g"});
  bad.out("g");
  EXPECT_THAT(bad.error(), ::testing::HasSubstr("index 3 is out of range for axis 0 of size 3"));
}

TEST(OnnxTensorOps, ShapeSizeConstantConstantOfShapeRange) {
  Net net(15);
  net.in("x", iota({2, 3, 4}));
  net.node("Shape", {"x"}, {"s"});
  auto* sh = net.node("Shape", {"x"}, {"s12"});
  attr(sh, "start", int64_t{-2});
  net.node("Size", {"x"}, {"n"});
  attr_t(net.node("Constant", {}, {"c"}), "value", f32({1.5, 2.5}, {2}));
  attr(net.node("Constant", {}, {"ci"}), "value_ints", std::vector<int64_t>{7, 8});
  attr_t(net.node("ConstantOfShape", {"s12"}, {"k"}), "value", i64({5}));
  net.init("r0", i64({10}, {})).init("r1", i64({3}, {})).init("rd", i64({-3}, {}));
  net.node("Range", {"r0", "r1", "rd"}, {"rg"});
  net.out("s", TensorProto::INT64).out("s12", TensorProto::INT64).out("n", TensorProto::INT64);
  net.out("c").out("ci", TensorProto::INT64).out("k", TensorProto::INT64);
  net.out("rg", TensorProto::INT64);
  auto r = net.run();  // every output is a constant
  EXPECT_EQ(vals(r[0]), Dv({2, 3, 4}));
  EXPECT_EQ(vals(r[1]), Dv({3, 4}));
  EXPECT_EQ(r[2].dim(), 0);
  EXPECT_EQ(vals(r[2]), Dv({24}));
  EXPECT_EQ(vals(r[3]), Dv({1.5, 2.5}));
  EXPECT_EQ(vals(r[4]), Dv({7, 8}));
  EXPECT_EQ(r[5].shape(), Shape({3, 4}));
  EXPECT_EQ(vals(r[5])[11], 5);
  EXPECT_EQ(vals(r[6]), Dv({10, 7, 4}));
  Net huge;
  huge.in("x", iota({1})).init("shape", i64({1 << 30, 1 << 30}));
  huge.node("ConstantOfShape", {"shape"}, {"k"});
  huge.out("k");
  EXPECT_THAT(huge.error(), ::testing::HasSubstr("(ConstantOfShape): ConstantOfShape: shape"));
}

// ---- reductions ----

TEST(OnnxTensorOps, Reductions) {
  Net net(13);
  net.in("x", f32({1, -2, 3, -4, 5, -6}, {2, 3})).init("axes", i64({1}));
  net.node("ReduceSum", {"x", "axes"}, {"sum"});
  auto* noop = net.node("ReduceSum", {"x"}, {"noop"});
  attr(noop, "noop_with_empty_axes", int64_t{1});
  auto* mean = net.node("ReduceMean", {"x"}, {"mean"});
  attr(mean, "axes", std::vector<int64_t>{0});
  attr(mean, "keepdims", int64_t{0});
  net.node("ReduceMax", {"x"}, {"max"});
  attr(net.node("ReduceMin", {"x"}, {"min"}), "axes", std::vector<int64_t>{-1});
  attr(net.node("ReduceL2", {"x"}, {"l2"}), "axes", std::vector<int64_t>{0});
  attr(net.node("ReduceLogSumExp", {"x"}, {"lse"}), "keepdims", int64_t{0});
  net.node("ArgMax", {"x"}, {"am"});
  auto* amin = net.node("ArgMin", {"x"}, {"an"});
  attr(amin, "axis", int64_t{1});
  attr(amin, "keepdims", int64_t{0});
  for (const char* o : {"sum", "noop", "mean", "max", "min", "l2", "lse"}) net.out(o);
  net.out("am", TensorProto::INT64).out("an", TensorProto::INT64);
  auto r = net.run();
  EXPECT_EQ(r[0].shape(), Shape({2, 1}));
  EXPECT_EQ(vals(r[0]), Dv({2, -5}));
  EXPECT_EQ(r[1].shape(), Shape({2, 3}));
  EXPECT_EQ(vals(r[2]), Dv({-1.5, 1.5, -1.5}));
  EXPECT_EQ(r[3].shape(), Shape({1, 1}));
  EXPECT_EQ(vals(r[3]), Dv({5}));
  EXPECT_EQ(vals(r[4]), Dv({-2, -6}));
  EXPECT_NEAR(vals(r[5])[0], std::sqrt(17.0), 1e-5);
  double lse = 0;
  for (double v : {1, -2, 3, -4, 5, -6}) lse += std::exp(v);
  EXPECT_EQ(r[6].dim(), 0);
  EXPECT_NEAR(vals(r[6])[0], std::log(lse), 1e-5);
  EXPECT_EQ(r[7].shape(), Shape({1, 3}));
  EXPECT_EQ(vals(r[7]), Dv({0, 1, 0}));
  EXPECT_EQ(vals(r[8]), Dv({1, 2}));
  // ReduceProd: constants only (tf2onnx's Shape -> Slice -> ReduceProd element counts).
  Net prod(11);
  prod.in("x", iota({2, 3, 4})).init("one", i64({1})).init("end", i64({3}));
  prod.node("Shape", {"x"}, {"s"});
  prod.node("Slice", {"s", "one", "end"}, {"tail"});
  prod.node("ReduceProd", {"tail"}, {"n"});
  prod.out("n", TensorProto::INT64);
  EXPECT_EQ(vals(prod.run()[0]), Dv({12}));
  Net computed;
  computed.in("x", iota({2, 3}));
  computed.node("ReduceProd", {"x"}, {"p"});
  computed.out("p");
  EXPECT_THAT(computed.error(),
              ::testing::HasSubstr("ReduceProd of a tensor computed at run time is not supported"));
  Net last;
  last.in("x", f32({3, 1, 3, 0, 3}, {5}));
  attr(last.node("ArgMax", {"x"}, {"a"}), "select_last_index", int64_t{1});
  auto* lmin = last.node("ArgMin", {"x"}, {"b"});
  attr(lmin, "select_last_index", int64_t{1});
  attr(lmin, "keepdims", int64_t{0});
  last.out("a", TensorProto::INT64).out("b", TensorProto::INT64);
  auto l = last.run();
  EXPECT_EQ(l[0].shape(), Shape({1}));
  EXPECT_EQ(vals(l[0]), Dv({4}));
  EXPECT_EQ(l[1].dim(), 0);
  EXPECT_EQ(vals(l[1]), Dv({3}));
}

// ---- hostile values: errors naming the node, before anything large is allocated ----

TEST(OnnxTensorOps, HostileShapesAndCountsAreErrors) {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  auto one = [](const std::string& op, const Tensor& param) {
    Net net;
    net.in("x", iota({2, 2})).init("p", param);
    net.node(op, {"x", "p"}, {"y"});
    net.out("y");
    return net.error();
  };
  using ::testing::HasSubstr;
  EXPECT_THAT(one("Pad", i64({0, 0, int64_t{1} << 40, 0})), HasSubstr("(Pad): Pad: shape"));
  EXPECT_THAT(one("Pad", i64({0, 0, kMax, kMax})), HasSubstr("node 'Pad_1' (Pad): "));
  EXPECT_THAT(one("Expand", i64({int64_t{1} << 20, int64_t{1} << 20, 2, 2})),
              HasSubstr("(Expand): Expand: shape (1048576, 1048576, 2, 2) would take"));
  EXPECT_THAT(one("Tile", i64({kMax, 2})), HasSubstr("node 'Tile_1' (Tile): "));
  EXPECT_THAT(one("Unsqueeze", i64(std::vector<int64_t>(100, 0))),
              HasSubstr("(Unsqueeze): the output has 102 dimensions (at most 64)"));
  EXPECT_THAT(one("Reshape", i64({-2})), HasSubstr("shape (-2,) holds -2 (expected >= -1)"));
  EXPECT_THAT(one("Slice", i64({0})), HasSubstr("ends (input 2) is missing"));
  Net range;
  range.in("x", iota({1})).init("a", i64({0}, {})).init("b", i64({kMax}, {}));
  range.init("d", i64({1}, {}));
  range.node("Range", {"a", "b", "d"}, {"r"});
  range.out("r", TensorProto::INT64);
  EXPECT_THAT(range.error(), HasSubstr("(Range): Range: shape (9223372036854775807,)"));
}

// ---- masks and layouts ----

TEST(OnnxTensorOps, GatherElementsComputedIndices) {
  // data (3, 3) int64 = 10 * row + col; indices (2, 2), computed: the smaller extent on axis 1
  Net net;
  net.in("x", i64({0, 1, 2, 10, 11, 12, 20, 21, 22}, {3, 3})).in("i", i64({2, -3, 1, 0}, {2, 2}));
  net.node("GatherElements", {"x", "i"}, {"g0"});
  attr(net.node("GatherElements", {"x", "i"}, {"g1"}), "axis", int64_t{1});
  net.out("g0", TensorProto::INT64).out("g1", TensorProto::INT64);
  auto r = net.run();
  EXPECT_EQ(r[0].dtype(), int64);
  EXPECT_EQ(vals(r[0]), Dv({20, 1, 10, 1}));  // x[i[r][c]][c]
  EXPECT_EQ(vals(r[1]), Dv({2, 0, 11, 10}));  // x[r][i[r][c]]
}

TEST(OnnxTensorOps, DepthToSpaceSpaceToDepthTriluEyeLike) {
  Net net(14);
  net.in("x", iota({1, 8, 1, 1})).in("m", iota({3, 3})).init("k", i64({-1}, {}));
  attr(net.node("DepthToSpace", {"x"}, {"dcr"}), "blocksize", int64_t{2});
  auto* crd = net.node("DepthToSpace", {"x"}, {"crd"});
  attr(crd, "blocksize", int64_t{2});
  attr_s(crd, "mode", "CRD");
  attr(net.node("SpaceToDepth", {"dcr"}, {"back"}), "blocksize", int64_t{2});
  net.node("Trilu", {"m"}, {"up"});
  attr(net.node("Trilu", {"m", "k"}, {"low"}), "upper", int64_t{0});
  attr(net.node("EyeLike", {"m"}, {"eye"}), "k", int64_t{1});
  for (const char* o : {"dcr", "crd", "back", "up", "low", "eye"}) net.out(o);
  auto r = net.run();
  // DCR: out[c][h][w] = x[(h * 2 + w) * 2 + c]; CRD: x[c * 4 + h * 2 + w]
  EXPECT_EQ(r[0].shape(), Shape({1, 2, 2, 2}));
  EXPECT_EQ(vals(r[0]), Dv({0, 2, 4, 6, 1, 3, 5, 7}));
  EXPECT_EQ(vals(r[1]), Dv({0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(vals(r[2]), vals(iota({1, 8, 1, 1})));
  EXPECT_EQ(vals(r[3]), Dv({0, 1, 2, 0, 4, 5, 0, 0, 8}));
  EXPECT_EQ(vals(r[4]), Dv({0, 0, 0, 3, 0, 0, 6, 7, 0}));
  EXPECT_EQ(vals(r[5]), Dv({0, 1, 0, 0, 0, 1, 0, 0, 0}));
}

TEST(OnnxTensorOps, OneHotCumSumIsNaNIsInf) {
  const double inf = std::numeric_limits<double>::infinity();
  Net net(11);
  net.in("i", i64({1, -1, 5})).init("depth", i64({3}, {})).init("v", f32({-1, 2}, {2}));
  net.in("x", f32({1, 2, 3, 4, 5, 6}, {2, 3})).init("axis", i64({1}, {}));
  net.in("y", f32({1, NAN, inf, -inf}, {4}));
  attr(net.node("OneHot", {"i", "depth", "v"}, {"oh"}), "axis", int64_t{0});
  net.node("CumSum", {"x", "axis"}, {"cs"});
  auto* rev = net.node("CumSum", {"x", "axis"}, {"rex"});
  attr(rev, "reverse", int64_t{1});
  attr(rev, "exclusive", int64_t{1});
  net.node("IsNaN", {"y"}, {"nan"});
  net.node("IsInf", {"y"}, {"inf"});
  attr(net.node("IsInf", {"y"}, {"ninf"}), "detect_positive", int64_t{0});
  net.out("oh").out("cs").out("rex");
  net.out("nan", TensorProto::BOOL).out("inf", TensorProto::BOOL).out("ninf", TensorProto::BOOL);
  auto r = net.run();
  EXPECT_EQ(r[0].shape(), Shape({3, 3}));  // depth on axis 0; index 5 is out of range
  EXPECT_EQ(vals(r[0]), Dv({-1, -1, -1, 2, -1, -1, -1, 2, -1}));
  EXPECT_EQ(vals(r[1]), Dv({1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(vals(r[2]), Dv({5, 3, 0, 11, 6, 0}));
  EXPECT_EQ(vals(r[3]), Dv({0, 1, 0, 0}));
  EXPECT_EQ(vals(r[4]), Dv({0, 0, 1, 1}));
  EXPECT_EQ(vals(r[5]), Dv({0, 0, 0, 1}));
}

// ---- Resize, Upsample: one interpolation matrix per axis ----

TEST(OnnxTensorOps, ResizeNearestLinearAndUpsample) {
  Net net(13);
  net.in("x", iota({1, 1, 2, 2})).init("scales", f32({1, 1, 2, 2}, {4}));
  net.init("sizes", i64({1, 1, 3, 3}));
  net.node("Resize", {"x", "", "scales"}, {"near"});
  auto* lin = net.node("Resize", {"x", "", "", "sizes"}, {"lin"});
  attr_s(lin, "mode", "linear");
  attr_s(lin, "coordinate_transformation_mode", "align_corners");
  net.out("near").out("lin");
  std::string dump;
  auto r = net.run(&dump);
  EXPECT_EQ(r[0].shape(), Shape({1, 1, 4, 4}));
  EXPECT_EQ(vals(r[0]), Dv({0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3}));
  EXPECT_EQ(r[1].shape(), Shape({1, 1, 3, 3}));
  const Dv lv = vals(r[1]), want{0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(lv[i], want[i], 1e-6) << i;
  EXPECT_THAT(dump, ::testing::HasSubstr("matmul"));
  Net up(9);  // Upsample: asymmetric coordinates, nearest rounds down when enlarging
  up.in("x", iota({1, 1, 2, 2})).init("scales", f32({1, 1, 2, 1}, {4}));
  up.node("Upsample", {"x", "scales"}, {"y"});
  up.out("y");
  EXPECT_EQ(vals(up.run()[0]), Dv({0, 1, 0, 1, 2, 3, 2, 3}));
  Net crop(13);
  crop.in("x", iota({1, 1, 2, 2})).init("roi", f32({0, 0, 0, 0, 1, 1, 1, 1}, {8}));
  crop.init("scales", f32({1, 1, 2, 2}, {4}));
  attr_s(crop.node("Resize", {"x", "roi", "scales"}, {"y"}), "coordinate_transformation_mode",
         "tf_crop_and_resize");
  crop.out("y");
  EXPECT_THAT(crop.error(),
              ::testing::HasSubstr("coordinate_transformation_mode 'tf_crop_and_resize' is not "
                                   "supported"));
}

// ---- constants fold: torch.onnx's x.view(x.size(0), -1) ----

TEST(OnnxTensorOps, ShapeChainFoldsIntoOneStaticReshape) {
  Net net(13);
  net.in("x", iota({2, 3, 2, 2}));
  net.init("zero", i64({0}, {})).init("minus_one", i64({-1})).init("ax0", i64({0}));
  net.node("Shape", {"x"}, {"shape"});
  net.node("Gather", {"shape", "zero"}, {"batch"});
  net.node("Unsqueeze", {"batch", "ax0"}, {"batch1"});
  attr(net.node("Concat", {"batch1", "minus_one"}, {"target"}), "axis", int64_t{0});
  net.node("Reshape", {"x", "target"}, {"flat"});
  net.node("Neg", {"flat"}, {"y"});
  net.out("y");
  std::string dump;
  auto r = net.run(&dump);
  EXPECT_EQ(r[0].shape(), Shape({2, 12}));
  EXPECT_EQ(vals(r[0])[13], -13);
  // The compiled graph: the input, one reshape, the neg; no shape arithmetic.
  EXPECT_THAT(dump, ::testing::HasSubstr("reshape"));
  for (const char* op : {"concat", "slice", "cast", "unsqueeze", "gather"}) {
    EXPECT_THAT(dump, ::testing::Not(::testing::HasSubstr(op))) << dump;
  }
  size_t reshapes = 0;
  for (size_t at = dump.find("reshape"); at != std::string::npos;
       at = dump.find("reshape", at + 1)) {
    ++reshapes;
  }
  EXPECT_EQ(reshapes, 1u) << dump;
}

}  // namespace
}  // namespace duet

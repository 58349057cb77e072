// duet::onnx::export_model: the written file parsed back with the generated ::onnx classes
// (opset, IR version, initializers, node names and doc_strings, dynamic batch, batch-norm
// folding on and off), the user's graph untouched, the errors; and export -> load -> the same
// logits as the original model, eager and compiled. ONNX Runtime's view of the zoo models is
// tests/onnx/ort/ (ctest onnx_runtime_zoo).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include <unistd.h>

#include "duet/duet.h"
#include "duet/graph.h"
#include "duet/nn.h"
#include "duet/onnx.h"
#include "onnx/proto.h"
#include "test_util.h"

using namespace duet;
using ::testing::HasSubstr;

namespace {

// conv -> BN -> relu -> max pool -> global average pool -> flatten -> linear
struct SmallNet : nn::Module {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Linear> fc;
  SmallNet() : Module("SmallNet") {
    Generator gen(7);
    conv = register_module("conv", std::make_shared<nn::Conv2d>(3, 8, 3, Conv2dOptions{.padding = 1},
                                                                 false, gen));
    bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(8));
    fc = register_module("fc", std::make_shared<nn::Linear>(8, 5, true, gen));
    // Non-trivial statistics, so folding them in matters.
    bn->named_buffers()[0].second.copy_(Tensor::rand({8}, gen));
    bn->named_buffers()[1].second.copy_(add(Tensor::rand({8}, gen), 0.5));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = relu((*bn)((*conv)(x)));
    y = max_pool2d(y, {.kernel = 2});
    y = adaptive_avg_pool2d(y, {1, 1});
    return (*fc)(flatten(y, 1));
  }
};

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("duet_export_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

::onnx::ModelProto read_model(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  std::string data;
  char buf[65536];
  size_t n = 0;
  while (f && (n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  if (f) std::fclose(f);
  ::onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(data)) << path;
  return m;
}

int count_ops(const ::onnx::ModelProto& m, const std::string& type) {
  int c = 0;
  for (const auto& n : m.graph().node()) c += n.op_type() == type;
  return c;
}

bool has_initializer(const ::onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return true;
  return false;
}

class OnnxExport : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!duet::onnx::available()) GTEST_SKIP() << "libduet built without ONNX";
  }
  void TearDown() override {
    for (const std::string& p : paths_) std::filesystem::remove(p);
  }
  std::string path(const std::string& name) {
    paths_.push_back(temp_path(name));
    return paths_.back();
  }
  std::vector<std::string> paths_;
};

TEST_F(OnnxExport, ModuleStructure) {
  SmallNet net;
  const std::string p = path("small.onnx");
  duet::onnx::export_model(net, {Tensor::zeros({2, 3, 8, 8})}, p, {.opset = 17});
  const ::onnx::ModelProto m = read_model(p);
  EXPECT_EQ(m.ir_version(), 8);
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).domain(), "");
  EXPECT_EQ(m.opset_import(0).version(), 17);
  EXPECT_EQ(m.producer_name(), "duet");
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "input");
  ASSERT_EQ(m.graph().output_size(), 1);
  EXPECT_EQ(m.graph().output(0).name(), "output");
  // Static shapes: (2, 5) logits.
  const auto& os = m.graph().output(0).type().tensor_type().shape();
  ASSERT_EQ(os.dim_size(), 2);
  EXPECT_EQ(os.dim(0).dim_value(), 2);
  EXPECT_EQ(os.dim(1).dim_value(), 5);
  // BN folded into the conv: Conv, Relu, MaxPool, GlobalAveragePool, Reshape, Gemm.
  EXPECT_EQ(count_ops(m, "BatchNormalization"), 0);
  EXPECT_EQ(count_ops(m, "Conv"), 1);
  EXPECT_EQ(count_ops(m, "Gemm"), 1);
  EXPECT_EQ(count_ops(m, "GlobalAveragePool"), 1);
  // The linear layer's parameters keep their state_dict names; the folded conv weight does not.
  EXPECT_TRUE(has_initializer(m, "fc.weight"));
  EXPECT_TRUE(has_initializer(m, "fc.bias"));
  EXPECT_FALSE(has_initializer(m, "conv.weight"));
  // Node names "<OnnxOp>_<duet node id>", doc_strings with the duet op and the model line.
  const std::regex name_re("[A-Za-z]+_[0-9]+(_[0-9]+)?");
  const std::regex doc_re("duet node %[0-9]+ [a-z0-9_]+ at export_test\\.cpp:[0-9]+");
  for (const auto& n : m.graph().node()) {
    EXPECT_TRUE(std::regex_match(n.name(), name_re)) << n.name();
    EXPECT_TRUE(std::regex_match(n.doc_string(), doc_re)) << n.doc_string();
  }
  std::set<std::string> names;
  for (const auto& n : m.graph().node()) EXPECT_TRUE(names.insert(n.name()).second) << n.name();
}

TEST_F(OnnxExport, FoldBatchNormOff) {
  SmallNet net;
  const std::string p = path("bn.onnx");
  duet::onnx::export_model(net, {Tensor::zeros({1, 3, 8, 8})}, p,
                     {.opset = 13, .fold_batch_norm = false});
  const ::onnx::ModelProto m = read_model(p);
  EXPECT_EQ(m.opset_import(0).version(), 13);
  EXPECT_EQ(count_ops(m, "BatchNormalization"), 1);
  for (const char* name : {"conv.weight", "bn.weight", "bn.bias", "bn.running_mean",
                           "bn.running_var"})
    EXPECT_TRUE(has_initializer(m, name)) << name;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "BatchNormalization") continue;
    ASSERT_EQ(n.input_size(), 5);
    EXPECT_EQ(n.input(1), "bn.weight");
    EXPECT_EQ(n.input(3), "bn.running_mean");
    ASSERT_EQ(n.attribute_size(), 1);
    EXPECT_EQ(n.attribute(0).name(), "epsilon");
    EXPECT_FLOAT_EQ(n.attribute(0).f(), 1e-5f);
  }
}

TEST_F(OnnxExport, DynamicBatch) {
  SmallNet net;
  const std::string p = path("dyn.onnx");
  duet::onnx::export_model(net, {Tensor::zeros({4, 3, 8, 8})}, p, {.dynamic_batch = true});
  const ::onnx::ModelProto m = read_model(p);
  const auto& is = m.graph().input(0).type().tensor_type().shape();
  EXPECT_EQ(is.dim(0).dim_param(), "batch");
  EXPECT_EQ(is.dim(1).dim_value(), 3);
  const auto& os = m.graph().output(0).type().tensor_type().shape();
  EXPECT_EQ(os.dim(0).dim_param(), "batch");
  EXPECT_EQ(os.dim(1).dim_value(), 5);
  // flatten's reshape target copies axis 0 (0) instead of baking 4 in.
  std::string shape_name;
  for (const auto& n : m.graph().node())
    if (n.op_type() == "Reshape") shape_name = n.input(1);
  ASSERT_FALSE(shape_name.empty());
  for (const auto& t : m.graph().initializer()) {
    if (t.name() != shape_name) continue;
    const Tensor s = duet::onnx::detail::tensor_from_proto(t, "dyn.onnx");
    EXPECT_EQ(s.to_vector<int64_t>(), (std::vector<int64_t>{0, 8}));
  }
}

TEST_F(OnnxExport, GraphStaysUsable) {
  SmallNet net;
  net.eval();
  Generator gen(3);
  const Tensor x = Tensor::randn({2, 3, 8, 8}, gen);
  Graph g;
  Tensor xs = g.input("images", {2, 3, 8, 8});
  Tensor y = net(xs);
  const size_t nodes = g.num_nodes();
  const std::string p = path("graph.onnx");
  duet::onnx::export_model(g, {y}, p, {.output_names = {"logits"}});
  EXPECT_EQ(g.num_nodes(), nodes);
  const ::onnx::ModelProto m = read_model(p);
  EXPECT_EQ(m.graph().input(0).name(), "images");
  EXPECT_EQ(m.graph().output(0).name(), "logits");
  Executable exe = compile(g, {y});
  const Tensor out = exe.run({{"images", x}})[0].clone();
  test::expect_close(out, net(x), 1e-5, 1e-6);
}

TEST_F(OnnxExport, Errors) {
  SmallNet net;
  const std::string p = path("err.onnx");
  // A training graph.
  {
    Graph g({.training = true});
    Tensor y = net(g.input("x", {2, 3, 8, 8}));
    g.end_build();
    try {
      duet::onnx::export_model(g, {y}, p);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("was built for training"));
    }
  }
  // An op without mapping names the op, the node and the model line.
  {
    Graph g;
    Tensor x = g.input("x", {2, 3});
    Tensor y = relu_backward(x, x);  // the line in the message
    const int line = __LINE__ - 1;
    g.end_build();
    try {
      duet::onnx::export_model(g, {y}, p);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("onnx export: op 'relu_backward' (node %1, created at "
                                      "export_test.cpp:" +
                                      std::to_string(line) + ") has no ONNX mapping"));
    }
  }
  // Opsets outside 13 ... 17.
  for (int64_t opset : {12, 18}) {
    try {
      duet::onnx::export_model(net, {Tensor::zeros({1, 3, 8, 8})}, p, {.opset = opset});
      FAIL() << "expected an error for opset " << opset;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("opset " + std::to_string(opset) +
                                      " is not supported (expected 13 ... 17)"));
    }
  }
  // Names: a count that does not match.
  try {
    duet::onnx::export_model(net, {Tensor::zeros({1, 3, 8, 8})}, p, {.input_names = {"a", "b"}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("2 input names given for 1 graph inputs"));
  }
  EXPECT_FALSE(std::filesystem::exists(p));
}

TEST_F(OnnxExport, ModuleModeRestored) {
  SmallNet net;
  net.train();
  net.fc->eval();
  duet::onnx::export_model(net, {Tensor::zeros({1, 3, 8, 8})}, path("mode.onnx"));
  EXPECT_TRUE(net.training_flag());
  EXPECT_TRUE(net.bn->training_flag());
  EXPECT_FALSE(net.fc->training_flag());
}

// Activations, scalar ops and shape ops written as their ONNX forms: the op types present.
TEST_F(OnnxExport, Compositions) {
  Graph g;
  Tensor x = g.input("x", {2, 4, 6, 6});
  Tensor a = hardswish(relu6(x));
  Tensor b = gelu(silu(x), true);
  Tensor c = add(mul(a, 2.0), b);
  Tensor d = adaptive_avg_pool2d(c, {4, 4});  // 6 -> 4 does not divide: MatMuls
  Tensor e = sum(d, {2, 3}, false);
  g.end_build();
  const std::string p13 = path("comp13.onnx"), p17 = path("comp17.onnx");
  duet::onnx::export_model(g, {e}, p13, {.opset = 13});
  duet::onnx::export_model(g, {e}, p17, {.opset = 17});
  const ::onnx::ModelProto m13 = read_model(p13), m17 = read_model(p17);
  EXPECT_EQ(count_ops(m13, "HardSwish"), 0);   // opset 13: x * HardSigmoid(x)
  EXPECT_EQ(count_ops(m13, "HardSigmoid"), 1);
  EXPECT_EQ(count_ops(m17, "HardSwish"), 1);
  EXPECT_EQ(count_ops(m17, "Clip"), 1);        // relu6
  EXPECT_EQ(count_ops(m17, "Tanh"), 1);        // gelu, tanh form
  EXPECT_EQ(count_ops(m17, "MatMul"), 2);      // adaptive pooling 6 -> 4
  EXPECT_EQ(count_ops(m17, "ReduceSum"), 1);
  for (const auto& n : m17.graph().node())
    if (n.op_type() == "ReduceSum") {
      EXPECT_EQ(n.input_size(), 2);  // axes as an input
    }
}

// Outputs that are not an op's own value: a graph input, a value computed from captures only
// (an initializer), the same value twice. Each gets an Identity node; load gives them back.
TEST_F(OnnxExport, IdentityOutputs) {
  const Tensor w = Tensor::from_vector({1.0, 2.0, 3.0}, {3});
  Graph g;
  Tensor x = g.input("x", {2, 3});
  Tensor y = mul(x, w);
  Tensor c = mul(w, 2.0);  // captures only: evaluated at export
  g.end_build();
  const std::string p = path("ident.onnx");
  duet::onnx::export_model(g, {y, x, c, y}, p, {.output_names = {"y", "x_out", "c", "y2"}});
  const ::onnx::ModelProto m = read_model(p);
  EXPECT_EQ(count_ops(m, "Identity"), 3);
  ASSERT_EQ(m.graph().output_size(), 4);
  auto model = duet::onnx::load(p);
  const Tensor xv = Tensor::from_vector({1.0, -1.0, 0.5, 2.0, 0.0, -3.0}, {2, 3});
  const std::vector<Tensor> out = model->forward_many({xv});
  ASSERT_EQ(out.size(), 4u);
  test::expect_close(out[0], mul(xv, w));
  test::expect_close(out[1], xv);
  test::expect_close(out[2], mul(w, 2.0));
  test::expect_close(out[3], mul(xv, w));
  try {
    duet::onnx::export_model(g, {y}, p, {.output_names = {""}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("an output name is empty"));
  }
}

// Export while the graph is still being built: the eager work export does (a reshaped (C)
// vector, pooling matrices) records nothing into it, and building goes on afterwards.
TEST_F(OnnxExport, WhileBuilding) {
  Graph g;
  Tensor x = g.input("x", {1, 2, 6, 6});
  Tensor y = channel_affine(adaptive_avg_pool2d(x, {4, 4}), Tensor::from_vector({2.0, 3.0}, {2}),
                            Tensor::from_vector({0.5, -1.0}, {2}));
  const size_t nodes = g.num_nodes();
  duet::onnx::export_model(g, {y}, path("building.onnx"));
  EXPECT_EQ(g.num_nodes(), nodes);
  EXPECT_TRUE(g.building());
  Tensor z = relu(y);
  Executable exe = compile(g, {z});
  Generator gen(4);
  const Tensor xv = Tensor::randn({1, 2, 6, 6}, gen);
  auto m = duet::onnx::load(paths_.back());
  test::expect_close(exe.run({{"x", xv}})[0], relu((*m)(xv)), 1e-5, 1e-6);
}

// export -> load -> the same logits, eager and compiled (needs the importer, parts A/B/C).
TEST_F(OnnxExport, RoundTrip) {
  SmallNet net;
  net.eval();
  Generator gen(11);
  const Tensor x = Tensor::randn({3, 3, 8, 8}, gen);
  const Tensor ref = net(x);
  for (bool fold : {true, false}) {
    const std::string p = path(fold ? "rt_fold.onnx" : "rt.onnx");
    duet::onnx::export_model(net, {x}, p, {.dynamic_batch = true, .fold_batch_norm = fold});
    auto m = duet::onnx::load(p);
    test::expect_close((*m)(x), ref, 1e-4, 1e-5);
    Executable exe = m->compile({x.shape()});
    test::expect_close(exe.run({{m->inputs()[0].name, x}})[0], ref, 1e-4, 1e-5);
  }
}

}  // namespace

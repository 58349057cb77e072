// Issue #13, bug 6, graph side: what tracing cannot see is an error or a retrace, never a
// silent difference. An eager non-leaf that requires grad captured into a training graph; a
// value read on the host while tracing and written later (jit retraces, a hand-built
// Executable refuses to run); the warning's location; errors while tracing name the module
// path and the model line.
#include <gtest/gtest.h>

#include "duet/graph.h"
#include "duet/jit.h"
#include "duet/nn.h"
#include "test_util.h"

using namespace duet;

TEST(TraceSafety, EagerNonLeafRequiringGradCapturedIntoTrainingGraphIsAnError) {
  Generator gen(0);
  nn::Linear fc(4, 2, true, gen);
  Tensor doubled = mul(fc.weight, 2.0);  // eager, requires grad, not a leaf
  {
    Graph g({.training = true});
    Tensor x = g.input("x", {3, 4});
    EXPECT_DUET_ERROR(linear(x, doubled), "linear: an input is a tensor computed eagerly",
                      "shape (2, 4)", "training graph",
                      "trace_safety_test.cpp:", "no gradient would reach", "detach()");
  }
  {  // detached: a constant, as asked
    Graph g({.training = true});
    Tensor x = g.input("x", {3, 4});
    EXPECT_EQ(linear(x, doubled.detach()).shape(), (Shape{3, 2}));
  }
  {  // an eval graph needs no gradient; a parameter (a leaf) is captured as usual
    Graph g;
    Tensor x = g.input("x", {3, 4});
    EXPECT_EQ(linear(x, doubled).shape(), (Shape{3, 2}));
    EXPECT_EQ(fc(x).shape(), (Shape{3, 2}));
  }
}

TEST(TraceSafety, HostReadWrittenLaterMakesJitRetrace) {
  Tensor scale = Tensor::full({1}, 2.0);
  auto f = jit(
      [&](const std::vector<Tensor>& in) {
        const double s = scale.item();  // baked into the graph
        return std::vector<Tensor>{mul(in[0], s)};
      },
      {}, "scaled");
  const Tensor x = Tensor::ones({3});
  testing::internal::CaptureStderr();
  EXPECT_EQ(f({x})[0].to_vector<float>(), (std::vector<float>{2, 2, 2}));
  const std::string warning = testing::internal::GetCapturedStderr();
  EXPECT_NE(warning.find("read on the host while tracing at trace_safety_test.cpp:"),
            std::string::npos)
      << warning;
  EXPECT_EQ(warning.find("<unknown>"), std::string::npos) << warning;
  EXPECT_EQ(f({x})[0].to_vector<float>(), (std::vector<float>{2, 2, 2}));
  EXPECT_EQ(f.num_compiles(), 1u);

  scale.fill_(3.0);  // not ignored: the next call traces again
  testing::internal::CaptureStderr();
  EXPECT_EQ(f({x})[0].to_vector<float>(), (std::vector<float>{3, 3, 3}));
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("duet: jit 'scaled' retracing: a tensor of shape (1,) whose value was read "
                     "on the host while tracing at trace_safety_test.cpp:"),
            std::string::npos)
      << log;
  EXPECT_EQ(f.num_compiles(), 2u);
  EXPECT_NE(f.last_recompile_reason().find("has been written since"), std::string::npos);
  EXPECT_EQ(f({x})[0].to_vector<float>(), (std::vector<float>{3, 3, 3}));
  EXPECT_EQ(f.num_compiles(), 2u);
}

TEST(TraceSafety, HandBuiltExecutableRefusesToRunStale) {
  Tensor scale = Tensor::full({1}, 2.0);
  Graph g;
  Tensor x = g.input("x", {2});
  testing::internal::CaptureStderr();
  Tensor y = mul(x, scale.item<double>());
  testing::internal::GetCapturedStderr();
  Executable exe = compile(g, {y});
  EXPECT_EQ(exe.run({{"x", Tensor::ones({2})}})[0].to_vector<float>(), (std::vector<float>{2, 2}));
  EXPECT_EQ(exe.stale_reason(), "");
  scale.copy_(Tensor::full({1}, 5.0));
  EXPECT_NE(exe.stale_reason().find("has been written since"), std::string::npos);
  EXPECT_DUET_ERROR(exe.run({{"x", Tensor::ones({2})}}), "Executable::run: graph #", "is stale",
                    "build and compile the graph again");
}

TEST(TraceSafety, CapturedTensorsAreReadByReference) {
  // Used as a tensor (not read on the host): a write is seen without any retrace.
  Tensor scale = Tensor::full({1}, 2.0);
  auto f =
      jit([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{mul(in[0], scale)}; });
  EXPECT_EQ(f({Tensor::ones({2})})[0].to_vector<float>(), (std::vector<float>{2, 2}));
  scale.fill_(4.0);
  EXPECT_EQ(f({Tensor::ones({2})})[0].to_vector<float>(), (std::vector<float>{4, 4}));
  EXPECT_EQ(f.num_compiles(), 1u);
}

TEST(TraceSafety, ErrorsWhileTracingNameTheModulePathAndLine) {
  struct Net : nn::Module {
    std::shared_ptr<nn::Linear> fc1, fc2;
    Net() : Module("Net") {
      fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 6));
      fc2 = register_module("fc2", std::make_shared<nn::Linear>(5, 2));
    }
    Tensor forward(const Tensor& x) override { return (*fc2)((*fc1)(x)); }
  };
  auto net = std::make_shared<Net>();
  auto f = jit([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{(*net)(in[0])}; });
  EXPECT_DUET_ERROR(f({Tensor::ones({8, 4})}), "fc2 (Linear): Linear: input has shape (8, 6)",
                    "[graph mode, at trace_safety_test.cpp:");
}

TEST(TraceSafety, RunTimeErrorsNameTheNodeAndLine) {
  // A label out of range is only known when the step runs: the error names the node and the
  // model line that created it.
  Graph g;
  Tensor logits = g.input("logits", {2, 3});
  Tensor labels = g.input("labels", {2}, int64);
  Tensor loss = cross_entropy(logits, labels);
  Executable exe = compile(g, {loss});
  EXPECT_DUET_ERROR(exe.run({{"logits", Tensor::zeros({2, 3})},
                             {"labels", Tensor::from_vector<int64_t>({0, 7}, {2}, int64)}}),
                    "run: node %", "cross_entropy", "created at trace_safety_test.cpp:",
                    "label 7");
}

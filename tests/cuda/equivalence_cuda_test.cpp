// Eager against graph on the GPU (issue #6): check_equivalence with the model on duet::cuda,
// with the graph's step captured as a CUDA Graph and replayed (steps >= 3) and without, and a
// deterministic graph that gives identical bits run after run, replayed or not.
#include <gtest/gtest.h>

#include <cstring>

#include "cuda_test_util.h"
#include "duet/equivalence.h"
#include "duet/graph.h"
#include "duet/models/fashion_cnn.h"
#include "duet/models/resnet.h"
#include "duet/nn.h"
#include "duet/optim.h"

namespace duet {
namespace {

// Restores the process-wide cuDNN determinism switch when the test ends.
struct DeterministicScope {
  bool old = cuda_deterministic();
  explicit DeterministicScope(bool on) { set_cuda_deterministic(on); }
  ~DeterministicScope() { set_cuda_deterministic(old); }
};

// (x, y) pairs on the host: check_equivalence copies them to the model's device.
std::vector<std::pair<Tensor, Tensor>> batches(int n, const Shape& image, int64_t classes,
                                               uint64_t seed) {
  Generator gen(seed);
  std::vector<std::pair<Tensor, Tensor>> r;
  for (int i = 0; i < n; ++i) {
    std::vector<int64_t> y(image[0]);
    for (auto& v : y) v = static_cast<int64_t>(gen.below(static_cast<uint64_t>(classes)));
    r.emplace_back(Tensor::randn(image, gen), Tensor::from_vector(y, {image[0]}));
  }
  return r;
}

Tensor ce(const Tensor& out, const Tensor& y) {
  return cross_entropy(out, y);
}

class CudaEquivalence : public ::testing::TestWithParam<bool> {};  // param: cuda_graph

// The Fashion-MNIST CNN (conv, batch norm, relu, pooling, dropout, linear), SGD with momentum,
// four steps: with cuda_graph the graph's steps 3 and 4 are replays.
TEST_P(CudaEquivalence, FashionCnn) {
  DUET_REQUIRE_CUDA();
  Generator gen(1);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  EquivalenceOptions opts;
  opts.rtol = 1e-4;  // cuDNN's algorithms are not bit-identical to one another run to run
  opts.cuda_graph = GetParam();
  EquivalenceReport r = check_equivalence(*net, ce, batches(2, {8, 1, 28, 28}, 10, 3), 4, opts);
  EXPECT_TRUE(r.equivalent) << r.str();
  EXPECT_EQ(r.steps, 4);
  // The model is back where it was, on the GPU.
  for (const auto& [name, p] : net->named_parameters()) EXPECT_EQ(p.device(), cuda) << name;
}

// A small ResNet-18 (residual adds, strided and 1x1 convs, adaptive pooling), four steps.
TEST_P(CudaEquivalence, ResNet18Small) {
  DUET_REQUIRE_CUDA();
  DeterministicScope det(true);  // batch norm over few values amplifies rounding noise
  Generator gen(2);
  auto net = models::resnet18(10, gen);
  net->to(cuda);
  EquivalenceOptions opts;
  opts.rtol = 1e-3;
  opts.cuda_graph = GetParam();
  EquivalenceReport r = check_equivalence(*net, ce, batches(2, {4, 3, 64, 64}, 10, 5), 4, opts);
  EXPECT_TRUE(r.equivalent) << r.str();
  EXPECT_EQ(r.steps, 4);
}

INSTANTIATE_TEST_SUITE_P(CudaGraph, CudaEquivalence, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Captured" : "Uncaptured"; });

// Inputs already on the device are used as they are; a model on the GPU fed host tensors
// gives the same report as one fed device tensors.
TEST(CudaEquivalenceInputs, DeviceAndHostInputsAgree) {
  DUET_REQUIRE_CUDA();
  DeterministicScope det(true);
  Generator gen(4);
  auto net = models::fashion_cnn(gen, 0.0);
  net->to(cuda);
  auto host = batches(1, {4, 1, 28, 28}, 10, 6);
  std::vector<std::pair<Tensor, Tensor>> dev;
  for (const auto& [x, y] : host) dev.emplace_back(x.to(cuda), y.to(cuda));
  EquivalenceOptions opts;
  opts.rtol = 1e-4;
  EquivalenceReport a = check_equivalence(*net, ce, host, 3, opts);
  EquivalenceReport b = check_equivalence(*net, ce, dev, 3, opts);
  EXPECT_TRUE(a.equivalent) << a.str();
  EXPECT_TRUE(b.equivalent) << b.str();
  EXPECT_EQ(a.max_rel_diff, b.max_rel_diff);
}

// One training run as a compiled graph: the loss of every step and the final state, as host
// bytes.
struct GraphRun {
  std::vector<std::vector<float>> losses;
  std::vector<std::pair<std::string, std::vector<double>>> state;
  int captures = 0;
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

GraphRun run_graph(const std::string& model, bool cuda_graph, int steps) {
  Generator gen(7);
  std::shared_ptr<nn::Module> net;
  Shape image;
  if (model == "fashion_cnn") {
    net = models::fashion_cnn(gen);  // with dropout: its masks must repeat too
    image = {8, 1, 28, 28};
  } else {
    net = models::resnet18(10, gen);
    image = {2, 3, 32, 32};
  }
  net->to(cuda);
  optim::Adam opt(net->parameters(), 1e-3);
  auto data = batches(2, image, 10, 9);
  Graph g({.training = true});
  Tensor x = g.input("x", image, float32, cuda);
  Tensor y = g.input("y", {image[0]}, int64, cuda);
  Tensor loss = cross_entropy((*net)(x), y);
  Executable exe =
      compile(g, {loss}, {.training = true, .optimizer = &opt, .cuda_graph = cuda_graph});
  manual_seed(11);
  GraphRun r;
  for (int k = 0; k < steps; ++k) {
    const auto& [xb, yb] = data[k % data.size()];
    std::vector<Tensor> out = exe.run({{"x", xb.to(cuda)}, {"y", yb.to(cuda)}});
    r.losses.push_back(out[0].to_vector<float>());
  }
  for (const auto& [name, t] : net->state_dict()) r.state.emplace_back(name, t.to_vector<double>());
  r.captures = exe.num_captures();
  return r;
}

void expect_identical(const GraphRun& a, const GraphRun& b, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (size_t k = 0; k < a.losses.size(); ++k)
    EXPECT_TRUE(same_bits(a.losses[k], b.losses[k])) << "loss of step " << k;
  ASSERT_EQ(a.state.size(), b.state.size());
  for (size_t i = 0; i < a.state.size(); ++i)
    EXPECT_TRUE(same_bits(a.state[i].second, b.state[i].second)) << a.state[i].first;
}

class CudaDeterministicGraph : public ::testing::TestWithParam<std::string> {};  // model

// set_cuda_deterministic(true): two graph runs from the same state give the same bits, and
// the replayed CUDA Graph gives the bits of the kernel-by-kernel run.
TEST_P(CudaDeterministicGraph, RunToRunIdenticalBits) {
  DUET_REQUIRE_CUDA();
  DeterministicScope det(true);
  const int steps = 5;  // run 1 uncaptured, run 2 captured, runs 3-5 replays
  GraphRun first = run_graph(GetParam(), true, steps);
  GraphRun second = run_graph(GetParam(), true, steps);
  GraphRun uncaptured = run_graph(GetParam(), false, steps);
  EXPECT_GE(first.captures, 1);
  EXPECT_EQ(uncaptured.captures, 0);
  expect_identical(first, second, "captured vs captured");
  expect_identical(first, uncaptured, "captured vs uncaptured");
}

INSTANTIATE_TEST_SUITE_P(Models, CudaDeterministicGraph,
                         ::testing::Values("fashion_cnn", "resnet18"));

}  // namespace
}  // namespace duet

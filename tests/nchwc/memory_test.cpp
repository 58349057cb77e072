// Lean inference memory (part E of issue #17): hoisted intermediates freed after the prologue,
// CompileOptions::release_weights, and graph inference peak <= eager peak on every zoo model,
// measured as duet-bench measures it (allocator peak from before the model was created, the
// model included).
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>

#include "duet/graph.h"
#include "duet/memory.h"
#include "duet/models.h"
#include "duet/nn.h"
#include "graph/executable.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

constexpr int64_t kClasses = 10;

std::shared_ptr<nn::Module> make_model(const std::string& name, uint64_t seed) {
  Generator gen(seed);
  if (name == "fashion_cnn") return models::fashion_cnn(gen);
  return models::create_model(name, kClasses, gen);
}

Shape input_shape(const std::string& name) {
  return name == "fashion_cnn" ? Shape{1, 1, 28, 28} : Shape{1, 3, 64, 64};
}

struct Peak {
  int64_t bytes = 0;          // allocator peak - the bytes live before the model existed
  std::vector<float> output;  // of the last run
  int64_t released = 0;       // graph: MemoryReport::released
  // graph: what the blocked layout's zero padding adds to the packed weights (channels not a
  // multiple of 16), and the largest weight packed with padding (such a pack cannot write over
  // its input: for one layer the two coexist)
  int64_t padding = 0, largest_padded = 0;
};

// Peak bytes of `body` counted from before the model exists, like duet-bench's run_point:
// `body` builds the model, then resets the peak (initialisation temporaries are not counted).
template <class F>
int64_t measure(F&& body) {
  empty_cache(cpu);
  reset_peak_memory(cpu);
  const int64_t base = memory_stats(cpu).current_bytes;
  body();
  return memory_stats(cpu).peak_bytes - base;
}

// (a) eager inference: model alive, NoGradGuard, two forwards.
Peak eager_peak(const std::string& name) {
  Peak p;
  p.bytes = measure([&] {
    auto net = make_model(name, 3);
    Generator xg(4);
    const Tensor x = Tensor::randn(input_shape(name), xg);
    reset_peak_memory(cpu);
    net->eval();
    NoGradGuard no_grad;
    for (int i = 0; i < 2; ++i) p.output = (*net)(x).to_vector<float>();
  });
  return p;
}

// (b) graph inference as duet-bench runs it: compile with release_weights, drop the model,
// then `runs` runs.
Peak graph_peak(const std::string& name, int runs) {
  Peak p;
  p.bytes = measure([&] {
    auto net = make_model(name, 3);
    Generator xg(4);
    const Tensor x = Tensor::randn(input_shape(name), xg);
    reset_peak_memory(cpu);
    net->eval();
    Graph g;
    const Tensor y = (*net)(g.input("x", x.shape()));
    Executable exe = compile(g, {y}, {.release_weights = true});
    net.reset();
    for (int i = 0; i < runs; ++i) p.output = exe.run({{"x", x}})[0].to_vector<float>();
    p.released = exe.memory_report().released;
    const detail::GraphData& gd = *exe.impl()->graph;
    for (const detail::Node& nd : gd.nodes) {
      if (!nd.is(OpId::nchwc_pack_weight)) continue;
      const int64_t in = numel(gd.meta(nd.inputs[0]).shape) * 4,
                    out = numel(nd.outputs[0].shape) * 4;
      p.padding += out - in;
      if (out > in) p.largest_padded = std::max(p.largest_padded, in);
    }
  });
  return p;
}

// Within tol of the largest |e| (deep random-weight ResNets reach logits of 1e4: folding batch
// norm changes the float order, so an element near 0 is compared at the logits' scale).
void expect_near_all(const std::vector<float>& a, const std::vector<float>& e, double tol) {
  ASSERT_EQ(a.size(), e.size());
  double scale = 1;
  for (float v : e) scale = std::max(scale, 1.0 + std::abs(v));
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], e[i], tol * scale) << "at flat index " << i;
}

// The big models (each takes 5-15 s here, minutes under sanitizers) run when
// DUET_TEST_ALL_ZOO=1: docs/graph_mode.md, "Inference memory", has their figures.
bool large(const std::string& name) {
  return name == "resnet101" || name == "resnet152" || name == "vgg16" || name == "vgg16_bn" ||
         name == "efficientnet_b5" || name == "efficientnet_b6" || name == "efficientnet_b7";
}

class InferenceMemory : public testing::TestWithParam<std::string> {};

// Graph inference (weights released, model dropped) peaks no higher than eager inference, and
// computes the same logits; the released executable keeps working. Where the blocked layout
// pads channels to 16 (EfficientNet's squeeze-excitation convolutions), the packed weights are
// bigger than the model's by that padding, and a padded pack cannot write over its input (for
// one layer both exist at once): at 64x64 eager's activations are smaller than that, so the
// bound grows by those bytes (at 224 graph is below eager on every model: graph_mode.md).
TEST_P(InferenceMemory, GraphPeakAtMostEagerPeak) {
  const std::string name = GetParam();
  const char* all = std::getenv("DUET_TEST_ALL_ZOO");
  if (large(name) && !(all && std::string(all) == "1"))
    GTEST_SKIP() << name << ": set DUET_TEST_ALL_ZOO=1 to run the big models";
  const Peak eager = eager_peak(name);
  const Peak graph = graph_peak(name, 2);
  std::printf(
      "[ memory   ] %-16s eager %8.2f MiB  graph %8.2f MiB  released %8.2f MiB  "
      "padding %6.2f MiB\n",
      name.c_str(), eager.bytes / 1048576.0, graph.bytes / 1048576.0, graph.released / 1048576.0,
      graph.padding / 1048576.0);
  if (graph.padding <= 0) {
    EXPECT_LE(graph.bytes, eager.bytes) << name;
  } else {
    // The allocator counts size classes, which round a block up by at most 1/8.
    EXPECT_LE(graph.bytes, eager.bytes + (graph.padding + graph.largest_padded) * 9 / 8) << name;
  }
  expect_near_all(graph.output, eager.output, 1e-4);
  // Batch norm folds into the convolutions of every zoo model but VGG-16 (no batch norm):
  // the original weights go once folded.
  if (name != "vgg16") {
    EXPECT_GT(graph.released, 0) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, InferenceMemory, testing::ValuesIn([] {
                           std::vector<std::string> names = models::model_names();
                           names.push_back("fashion_cnn");
                           return names;
                         }()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// A conv + batch norm (+ relu) block whose parts the tests hold or drop one by one.
struct Block {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  explicit Block(uint64_t seed, int64_t cin = 3, int64_t cout = 4) {
    Generator gen(seed);
    conv = std::make_shared<nn::Conv2d>(cin, cout, 3, Conv2dOptions{.padding = {1, 1}}, false, gen);
    bn = std::make_shared<nn::BatchNorm2d>(cout);
    NoGradGuard ng;
    bn->weight.copy_(Tensor::uniform({cout}, 0.5, 1.5, gen));
    bn->bias.copy_(Tensor::uniform({cout}, -0.5, 0.5, gen));
    bn->running_mean.copy_(Tensor::uniform({cout}, -0.5, 0.5, gen));
    bn->running_var.copy_(Tensor::uniform({cout}, 0.5, 2.0, gen));
    conv->eval();
    bn->eval();
  }
  Tensor operator()(const Tensor& x) { return relu((*bn)((*conv)(x))); }
};

// Two blocks and a linear head: x (2, 3, 6, 6) -> (2, 5).
struct Net {
  Block b1{11}, b2{12, 4, 4};
  std::shared_ptr<nn::Linear> fc;
  Net() {
    Generator gen(13);
    fc = std::make_shared<nn::Linear>(4 * 6 * 6, 5, true, gen);
  }
  Tensor operator()(const Tensor& x) { return (*fc)(flatten(b2(b1(x)), 1)); }
};

constexpr int64_t kConvBytes = 4 * 3 * 3 * 3 * 4;  // b1's conv weight (4, 3, 3, 3) float32
constexpr int64_t kConv2Bytes = 4 * 4 * 3 * 3 * 4;
constexpr int64_t kBnBytes = 4 * 4 * 4;  // weight, bias, running mean and var: (4) each

Tensor input() {
  Generator gen(1);
  return Tensor::randn({2, 3, 6, 6}, gen);
}

Tensor eager(Net& net, const Tensor& x) {
  NoGradGuard ng;
  return net(x);
}

// Blocked-layout packing would add derived values of its own; these tests count the folded
// ones.
const std::set<std::string> kPlain{"nchwc_layout"};

// The folded weight's inputs (the batch-norm scale and its reshape) are freed after the
// prologue: only the values steps read stay (derived), and they are refreshed when a capture
// changes, recomputing the freed ones from the captures.
TEST(InferenceMemory, HoistedIntermediatesAreFreedAndRecomputed) {
  Net net;
  Graph g;
  const Tensor y = net(g.input("x", {2, 3, 6, 6}));
  Executable exe = compile(g, {y}, {.disabled_passes = kPlain});
  // Folded weights and biases: (4, 3, 3, 3) + (4) and (4, 4, 3, 3) + (4), float32.
  EXPECT_EQ(exe.memory_report().derived, kConvBytes + kConv2Bytes + 2 * 4 * 4);
  const Tensor x = input();
  expect_close(exe.run({{"x", x}})[0], eager(net, x), 1e-5, 1e-6);
  const detail::ExecutableImpl& impl = *exe.impl();
  int freed = 0;
  for (int32_t i : impl.hoisted_order)
    if (!impl.kept[i]) {
      ++freed;
      EXPECT_FALSE(impl.values[i][0].defined()) << "node %" << i;
    }
  EXPECT_GT(freed, 0);
  NoGradGuard ng;
  Generator gen(2);
  net.b1.bn->running_var.copy_(Tensor::uniform({4}, 2.0, 3.0, gen));
  expect_close(exe.run({{"x", x}})[0], eager(net, x), 1e-5, 1e-6);
  net.b2.conv->weight.copy_(net.b2.conv->weight * 0.5);
  expect_close(exe.run({{"x", x}})[0], eager(net, x), 1e-5, 1e-6);
  EXPECT_EQ(exe.memory_report().released, 0);  // no release_weights
}

// release_weights with the model alive releases nothing and keeps refreshing.
TEST(InferenceMemory, NothingIsReleasedWhileTheModelHoldsItsWeights) {
  Net net;
  Graph g;
  const Tensor y = net(g.input("x", {2, 3, 6, 6}));
  Executable exe = compile(g, {y}, {.disabled_passes = kPlain, .release_weights = true});
  const Tensor x = input();
  expect_close(exe.run({{"x", x}})[0], eager(net, x), 1e-5, 1e-6);
  EXPECT_EQ(exe.memory_report().released, 0);
  NoGradGuard ng;
  net.b1.conv->weight.copy_(net.b1.conv->weight * -1.0);
  expect_close(exe.run({{"x", x}})[0], eager(net, x), 1e-5, 1e-6);
  EXPECT_EQ(exe.dump().find("capture released"), std::string::npos);
}

// The weights only folding reads go once the model is dropped; the linear layer's weight,
// which a step reads, never does. The executable keeps computing the same logits.
TEST(InferenceMemory, ReleasesWhatOnlyHoistedNodesReadOnceTheModelIsDropped) {
  const Tensor x = input();
  Net twin;  // the same weights, kept for the reference
  const Tensor expected = eager(twin, x);
  auto net = std::make_unique<Net>();
  Graph g;
  const Tensor y = (*net)(g.input("x", {2, 3, 6, 6}));
  Executable exe = compile(g, {y}, {.disabled_passes = kPlain, .release_weights = true});
  const int64_t params_before = exe.memory_report().total();
  net.reset();
  for (int run = 0; run < 4; ++run) expect_close(exe.run({{"x", x}})[0], expected, 1e-5, 1e-6);
  const MemoryReport r = exe.memory_report();
  EXPECT_EQ(r.released, kConvBytes + kConv2Bytes + 2 * kBnBytes);
  EXPECT_EQ(r.total(), params_before - r.released);
  EXPECT_NE(r.str().find("released"), std::string::npos) << r.str();
  // Released captures are marked in the dump; the linear weight and bias stay captured.
  const std::string dump = exe.dump();
  size_t released = 0;
  for (size_t at = dump.find("capture released"); at != std::string::npos;
       at = dump.find("capture released", at + 1))
    ++released;
  EXPECT_EQ(released, 2u + 8u) << dump;  // 2 conv weights, 2 x 4 batch-norm tensors
  EXPECT_NE(dump.find("capture param -> (5, 144)"), std::string::npos) << dump;
}

// A capture still held outside (a running statistic kept by the caller) may change; when it
// does, the chain it feeds must be recomputed, which needs the released conv weight: an error
// naming it and the option. A chain without released captures still refreshes.
TEST(InferenceMemory, RecomputingAChainThatNeedsAReleasedWeightIsAnError) {
  const Tensor x = input();
  auto net = std::make_unique<Net>();
  // Kept by the caller: b1's running variance, and all of block 2.
  Tensor var1 = net->b1.bn->running_var;
  std::shared_ptr<nn::Conv2d> conv2 = net->b2.conv;
  std::shared_ptr<nn::BatchNorm2d> bn2 = net->b2.bn;
  Net twin;
  Graph g;
  const Tensor y = (*net)(g.input("x", {2, 3, 6, 6}));
  Executable exe = compile(g, {y}, {.disabled_passes = kPlain, .release_weights = true});
  net.reset();
  expect_close(exe.run({{"x", x}})[0], eager(twin, x), 1e-5, 1e-6);
  // b1's conv weight and its other batch-norm tensors went; var1 and block 2 stayed.
  EXPECT_EQ(exe.memory_report().released, kConvBytes + 3 * 4 * 4);
  NoGradGuard ng;
  // Block 2 was not released: writing its weight refreshes its folded weight.
  conv2->weight.copy_(conv2->weight * 0.5);
  twin.b2.conv->weight.copy_(twin.b2.conv->weight * 0.5);
  expect_close(exe.run({{"x", x}})[0], eager(twin, x), 1e-5, 1e-6);
  // var1 changed: b1's folded weight needs b1's conv weight, which is gone.
  var1.fill_(2.0);
  EXPECT_DUET_ERROR(exe.run({{"x", x}}), "release_weights");
  try {
    exe.run({{"x", x}});
    FAIL() << "expected a duet::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("captured tensor %"), std::string::npos) << msg;
    EXPECT_NE(msg.find("of shape (4, 3, 3, 3)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("was written"), std::string::npos) << msg;
  }
}

// Training graphs hoist nothing: release_weights changes nothing there.
TEST(InferenceMemory, TrainingGraphsIgnoreTheOption) {
  Net net;
  net.b1.conv->train();
  net.b1.bn->train();
  net.b2.conv->train();
  net.b2.bn->train();
  Graph g({.training = true});
  const Tensor loss = sum(net(g.input("x", {2, 3, 6, 6})));
  Executable exe = compile(g, {loss}, {.training = true, .release_weights = true});
  exe.run({{"x", input()}});
  EXPECT_EQ(exe.memory_report().released, 0);
}

}  // namespace

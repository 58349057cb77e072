// The zoo's forward passes: output shapes in train and eval mode, eager vs graph (training
// steps through check_equivalence, eval through compile), create_model's errors.
#include "duet/equivalence.h"
#include "duet/graph.h"
#include "duet/models.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

constexpr int64_t kClasses = 10;

Tensor ce(const Tensor& out, const Tensor& y) {
  return cross_entropy(out, y);
}

std::vector<std::pair<Tensor, Tensor>> batches(int n, const Shape& x_shape, uint64_t seed) {
  Generator gen(seed);
  std::vector<std::pair<Tensor, Tensor>> r;
  for (int i = 0; i < n; ++i) {
    std::vector<int64_t> y(static_cast<size_t>(x_shape[0]));
    for (auto& v : y) v = static_cast<int64_t>(gen.below(kClasses));
    r.emplace_back(Tensor::randn(x_shape, gen), Tensor::from_vector(y, {x_shape[0]}));
  }
  return r;
}

// Output shape at num_classes 10 in training and eval mode; eval is deterministic.
void expect_forward_shapes(const std::string& name, const Shape& x_shape) {
  SCOPED_TRACE(name);
  Generator gen(7);
  auto net = models::create_model(name, kClasses, gen);
  Tensor x = Tensor::randn(x_shape, gen);
  const Shape expected{x_shape[0], kClasses};
  {
    NoGradGuard no_grad;
    Tensor train_out = (*net)(x);
    EXPECT_EQ(train_out.shape(), expected);
    net->eval();
    Tensor a = (*net)(x), b = (*net)(x);
    EXPECT_EQ(a.shape(), expected);
    expect_close(a, b, 0.0, 0.0);
  }
  // Training mode records a tape that reaches the first convolution.
  net->train();
  Tensor loss = sum((*net)(x));
  loss.backward();
  EXPECT_TRUE(net->parameters().front().grad().defined());
}

// Eval-mode forward: eager vs a compiled inference graph.
void expect_eval_graph_matches(nn::Module& net, const Shape& x_shape) {
  Generator gen(11);
  Tensor x = Tensor::randn(x_shape, gen);
  net.eval();
  Tensor eager;
  {
    NoGradGuard no_grad;
    eager = net(x);
  }
  Graph g;
  Tensor xs = g.input("x", x_shape);
  Tensor ys = net(xs);
  Executable exe = compile(g, {ys});
  Tensor graph_out = exe.run({{"x", x}})[0].clone();
  EXPECT_LE(relative_difference(graph_out, eager), 1e-5);
  net.train();
}

void expect_training_equivalent(nn::Module& net, const Shape& x_shape) {
  EquivalenceReport r = check_equivalence(net, ce, batches(2, x_shape, 5), 2);
  EXPECT_TRUE(r.equivalent) << r.str();
  EXPECT_EQ(r.steps, 2);
}

}  // namespace

// (Every model's forward at 1000 classes is also checked in zoo_structure_test.cpp.)
TEST(ZooForward, ResNetShapes) {
  expect_forward_shapes("resnet18", {2, 3, 32, 32});
}

TEST(ZooForward, MobileNetV2Shapes) {
  expect_forward_shapes("mobilenet_v2", {2, 3, 32, 32});
}

TEST(ZooForward, EfficientNetShapes) {
  expect_forward_shapes("efficientnet_b0", {2, 3, 32, 32});
}

TEST(ZooForward, ResNet18EagerAndGraphAgree) {
  Generator gen(1);
  auto net = models::resnet18(kClasses, gen);
  expect_training_equivalent(*net, {2, 3, 32, 32});
  expect_eval_graph_matches(*net, {2, 3, 32, 32});
}

TEST(ZooForward, MobileNetV2EagerAndGraphAgree) {
  Generator gen(2);
  auto net = models::mobilenet_v2(kClasses, gen);
  expect_training_equivalent(*net, {2, 3, 32, 32});
  expect_eval_graph_matches(*net, {2, 3, 32, 32});
}

TEST(ZooForward, EfficientNetB0EagerAndGraphAgree) {
  // Dropout and the 16 stochastic-depth masks draw from the default generator, eagerly per
  // call and in the graph per run in recording order, so both runs see the same masks.
  Generator gen(3);
  auto net = models::efficientnet_b0(kClasses, gen);
  expect_training_equivalent(*net, {2, 3, 32, 32});
  expect_eval_graph_matches(*net, {2, 3, 32, 32});
}

TEST(ZooForward, EfficientNetStochasticDepthSchedule) {
  Generator gen(4);
  auto net = models::efficientnet_b0(kClasses, gen);
  std::vector<double> probs;
  for (auto& [name, m] : net->named_modules())
    if (auto* sd = dynamic_cast<nn::StochasticDepth*>(m)) {
      probs.push_back(sd->p);
      EXPECT_EQ(sd->mode, "row");
    }
  ASSERT_EQ(probs.size(), 16u);
  for (size_t k = 0; k < probs.size(); ++k) EXPECT_DOUBLE_EQ(probs[k], 0.2 * k / 16.0);
  auto* drop = dynamic_cast<nn::Dropout*>((*net->classifier)[0].get());
  ASSERT_NE(drop, nullptr);
  EXPECT_DOUBLE_EQ(drop->p, 0.2);
}

TEST(ZooForward, InitialisationFollowsTorchvision) {
  Generator gen(6);
  auto eff = models::efficientnet_b0(kClasses, gen);
  auto* fc = dynamic_cast<nn::Linear*>((*eff->classifier)[1].get());
  ASSERT_NE(fc, nullptr);
  const double range = 1.0 / std::sqrt(static_cast<double>(kClasses));
  for (double w : fc->weight.to_vector<double>()) EXPECT_LE(std::abs(w), range);
  for (double b : fc->bias.to_vector<double>()) EXPECT_EQ(b, 0.0);
  // Conv weights: kaiming_normal_(fan_out): std sqrt(2 / (out * kh * kw)).
  auto res = models::resnet18(kClasses, gen);
  std::vector<double> w = res->conv1->weight.to_vector<double>();
  double ss = 0;
  for (double v : w) ss += v * v;
  const double std_expected = std::sqrt(2.0 / (64 * 7 * 7));
  EXPECT_NEAR(std::sqrt(ss / static_cast<double>(w.size())), std_expected, 0.05 * std_expected);
  for (double v : res->bn1->weight.to_vector<double>()) EXPECT_EQ(v, 1.0);
}

TEST(ZooForward, SameGeneratorSeedSameWeights) {
  Generator a(9), b(9);
  auto n1 = models::create_model("mobilenet_v2", kClasses, a);
  auto n2 = models::create_model("mobilenet_v2", kClasses, b);
  auto s1 = n1->state_dict(), s2 = n2->state_dict();
  ASSERT_EQ(s1.size(), s2.size());
  for (size_t i = 0; i < s1.size(); ++i) expect_close(s1[i].second, s2[i].second, 0.0, 0.0);
}

TEST(ZooForward, CreateModelErrors) {
  Generator gen(0);
  EXPECT_DUET_ERROR(models::create_model("foo", 10, gen), "create_model: unknown model 'foo'",
                    "(known: resnet18, resnet34, resnet50, resnet101, resnet152, vgg16, "
                    "vgg16_bn, mobilenet_v2, efficientnet_b0, efficientnet_b1",
                    "efficientnet_b7)");
  EXPECT_DUET_ERROR(models::create_model("resnet18", 0, gen), "create_model", "num_classes = 0");
  EXPECT_DUET_ERROR(models::create_model("vgg16", -3, gen), "num_classes = -3");
  // require_model: the same check, named after its caller, without building anything.
  EXPECT_DUET_ERROR(models::require_model("resnet19", "my_tool"),
                    "my_tool: unknown model 'resnet19' (known: resnet18");
  for (const std::string& name : models::model_names())
    EXPECT_NO_THROW(models::require_model(name));
}

// Layers: default initialisation, init functions, BatchNorm2d running statistics, Dropout,
// and each module against its op.
#include <cmath>

#include "duet/nn.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

struct Moments {
  double min, max, mean, std;
};

Moments moments(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  Moments m{v[0], v[0], 0, 0};
  for (double x : v) {
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
    m.mean += x / v.size();
  }
  for (double x : v) m.std += (x - m.mean) * (x - m.mean) / v.size();
  m.std = std::sqrt(m.std);
  return m;
}

}  // namespace

TEST(Init, LinearDefaultIsKaimingUniformSqrt5) {
  Generator gen(0);
  nn::Linear fc(400, 300, true, gen);
  const double bound = 1.0 / std::sqrt(400.0);  // gain * sqrt(3 / fan_in), gain = sqrt(1/3)
  Moments w = moments(fc.weight);
  EXPECT_GE(w.min, -bound);
  EXPECT_LE(w.max, bound);
  EXPECT_GT(w.max, 0.99 * bound);  // the range is used (120000 draws)
  EXPECT_LT(w.min, -0.99 * bound);
  EXPECT_NEAR(w.mean, 0.0, 0.01 * bound);
  EXPECT_NEAR(w.std, bound / std::sqrt(3.0), 0.01 * bound);  // U(-b, b) has std b / sqrt(3)
  Moments b = moments(fc.bias);
  EXPECT_GE(b.min, -bound);
  EXPECT_LE(b.max, bound);
  EXPECT_EQ(fc.weight.dtype(), float32);
}

TEST(Init, Conv2dDefaultUsesFanInOfTheGroup) {
  Generator gen(1);
  nn::Conv2d conv(16, 32, 3, {.groups = 4}, true, gen);
  EXPECT_EQ(conv.weight.shape(), (Shape{32, 4, 3, 3}));
  const double bound = 1.0 / std::sqrt(4.0 * 9.0);
  Moments w = moments(conv.weight);
  EXPECT_GE(w.min, -bound);
  EXPECT_LE(w.max, bound);
  EXPECT_GT(w.max, 0.95 * bound);
  EXPECT_NEAR(w.mean, 0.0, 0.05 * bound);
  Moments b = moments(conv.bias);
  EXPECT_GE(b.min, -bound);
  EXPECT_LE(b.max, bound);
}

TEST(Init, SeededModulesAreReproducible) {
  Generator g1(9), g2(9);
  nn::Linear a(5, 4, true, g1), b(5, 4, true, g2);
  expect_close(a.weight, b.weight, 0, 0);
  expect_close(a.bias, b.bias, 0, 0);
}

TEST(Init, Functions) {
  namespace init = nn::init;
  Generator gen(3);
  Tensor w = Tensor::empty({256, 128, 3, 3});
  // torchvision ResNet: kaiming_normal_(mode=fan_out, nonlinearity=relu): std = sqrt(2 / fan_out)
  init::kaiming_normal_(w, 0.0, init::FanMode::fan_out, init::Nonlinearity::relu, gen);
  Moments m = moments(w);
  const double std = std::sqrt(2.0 / (256 * 9));
  EXPECT_NEAR(m.mean, 0.0, 0.01 * std);
  EXPECT_NEAR(m.std, std, 0.01 * std);

  Tensor u = Tensor::empty({64, 50});
  init::kaiming_uniform_(u, 0.0, init::FanMode::fan_in, init::Nonlinearity::relu, gen);
  const double bound = std::sqrt(2.0) * std::sqrt(3.0 / 50);
  Moments mu = moments(u);
  EXPECT_GE(mu.min, -bound);
  EXPECT_LE(mu.max, bound);
  EXPECT_GT(mu.max, 0.95 * bound);

  Tensor d = Tensor::empty({1000}, float64);
  init::uniform_(d, 2.0, 3.0, gen);
  Moments md = moments(d);
  EXPECT_GE(md.min, 2.0);
  EXPECT_LT(md.max, 3.0);
  init::normal_(d, 5.0, 0.1, gen);
  EXPECT_NEAR(moments(d).mean, 5.0, 0.02);
  init::constant_(d, 0.25);
  EXPECT_EQ(moments(d).min, 0.25);
  EXPECT_EQ(moments(d).max, 0.25);
  init::zeros_(d);
  EXPECT_EQ(moments(d).max, 0.0);
  init::ones_(d);
  EXPECT_EQ(moments(d).min, 1.0);

  EXPECT_NEAR(init::calculate_gain(init::Nonlinearity::leaky_relu, std::sqrt(5.0)),
              std::sqrt(1.0 / 3.0), 1e-12);
  EXPECT_NEAR(init::calculate_gain(init::Nonlinearity::tanh), 5.0 / 3.0, 1e-12);
  auto [fi, fo] = init::fan_in_and_fan_out(Tensor::empty({8, 3, 5, 5}));
  EXPECT_EQ(fi, 75);
  EXPECT_EQ(fo, 200);

  // Writes in place into a parameter that requires grad (outside autograd).
  nn::Linear fc(3, 2);
  Tensor handle = fc.weight;
  init::zeros_(fc.weight);
  EXPECT_TRUE(handle.is_same(fc.weight));
  EXPECT_EQ(moments(handle).max, 0.0);
  EXPECT_TRUE(fc.weight.requires_grad());

  EXPECT_DUET_ERROR(init::kaiming_uniform_(Tensor::empty({5})), "kaiming_uniform_", "(5,)",
                    "rank >= 2");
  EXPECT_DUET_ERROR(init::normal_(Tensor::zeros({2}, int64)), "normal_", "int64");
}

TEST(BatchNorm2d, TrainUpdatesRunningStatsEvalDoesNot) {
  nn::BatchNorm2d bn(3);
  EXPECT_EQ(bn.weight.to_vector<double>(), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(bn.bias.to_vector<double>(), (std::vector<double>{0, 0, 0}));
  Generator g(11);
  Tensor x = Tensor::randn({4, 3, 5, 5}, g, float64).to(float32);
  x = x * 2.0 + 1.0;

  // Reference batch statistics (per channel, over N, H, W).
  std::vector<double> v = x.to_vector<double>();
  std::vector<double> bmean(3, 0), bvar(3, 0);
  const int64_t per = 4 * 25;
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 25; ++i) bmean[c] += v[(n * 3 + c) * 25 + i] / per;
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 25; ++i) {
        const double d = v[(n * 3 + c) * 25 + i] - bmean[c];
        bvar[c] += d * d / (per - 1);  // unbiased for the running update
      }

  Tensor y = bn(x);
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
  std::vector<double> rm1(3), rv1(3);
  for (int c = 0; c < 3; ++c) {
    rm1[c] = 0.9 * 0 + 0.1 * bmean[c];
    rv1[c] = 0.9 * 1 + 0.1 * bvar[c];
  }
  expect_values(bn.running_mean, rm1, 1e-5);
  expect_values(bn.running_var, rv1, 1e-5);
  // Output normalised per channel: mean ~ 0.
  Tensor ym = mean(y, {0, 2, 3});
  expect_values(ym, {0, 0, 0}, 1e-4);

  bn(x);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);

  bn.eval();
  std::vector<double> rm = bn.running_mean.to_vector<double>();
  std::vector<double> rv = bn.running_var.to_vector<double>();
  Tensor z = bn(x);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);
  EXPECT_EQ(bn.running_mean.to_vector<double>(), rm);
  EXPECT_EQ(bn.running_var.to_vector<double>(), rv);
  // Eval uses the running statistics.
  std::vector<double> zv = z.to_vector<double>();
  for (int64_t c = 0; c < 3; ++c)
    EXPECT_NEAR(zv[c * 25], (v[c * 25] - rm[c]) / std::sqrt(rv[c] + 1e-5), 1e-4);

  EXPECT_DUET_ERROR(bn(Tensor::zeros({2, 4, 3, 3})), "BatchNorm2d", "(2, 4, 3, 3)",
                    "num_features = 3");
  EXPECT_DUET_ERROR(bn(Tensor::zeros({2, 3})), "BatchNorm2d", "4-D");
}

TEST(BatchNorm2d, CumulativeMomentumAndNoTracking) {
  // momentum = nullopt: running = cumulative average (factor 1 / num_batches_tracked).
  nn::BatchNorm2d bn(1, 1e-5, std::nullopt);
  Tensor a = Tensor::full({2, 1, 1, 1}, 2.0), b = Tensor::full({2, 1, 1, 1}, 4.0);
  bn(a);  // factor 1: running_mean = 2
  bn(b);  // factor 1/2: running_mean = 3
  expect_values(bn.running_mean, {3.0});
  EXPECT_EQ(bn.extra_repr().find("momentum=None") != std::string::npos, true);

  nn::BatchNorm2d nt(2, 1e-5, 0.1, /*affine=*/false, /*track_running_stats=*/false);
  EXPECT_TRUE(nt.state_dict().empty());
  nt.eval();  // still normalises with batch statistics
  Generator g(2);
  Tensor x = Tensor::randn({3, 2, 4, 4}, g);
  Tensor y = nt(x);
  expect_values(mean(y, {0, 2, 3}), {0, 0}, 1e-4);
}

TEST(Layers, ModulesMatchTheirOps) {
  Generator g(4);
  Tensor x = Tensor::randn({2, 3, 6, 6}, g);
  expect_close(nn::ReLU()(x), relu(x), 0, 0);
  expect_close(nn::ReLU6()(x), relu6(x), 0, 0);
  expect_close(nn::LeakyReLU(0.2)(x), leaky_relu(x, 0.2), 0, 0);
  expect_close(nn::Sigmoid()(x), sigmoid(x), 0, 0);
  expect_close(nn::Tanh()(x), tanh(x), 0, 0);
  expect_close(nn::SiLU()(x), silu(x), 0, 0);
  expect_close(nn::Hardswish()(x), hardswish(x), 0, 0);
  expect_close(nn::Hardsigmoid()(x), hardsigmoid(x), 0, 0);
  expect_close(nn::GELU(true)(x), gelu(x, true), 0, 0);
  expect_close(nn::Identity()(x), x, 0, 0);
  EXPECT_EQ(nn::Flatten()(x).shape(), (Shape{2, 108}));
  EXPECT_EQ(nn::Flatten(0, 1)(x).shape(), (Shape{6, 6, 6}));
  expect_close(nn::MaxPool2d(2)(x), max_pool2d(x, {.kernel = {2, 2}}), 0, 0);
  expect_close(nn::AvgPool2d(3, 1, 1)(x),
               avg_pool2d(x, {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}), 0, 0);
  expect_close(nn::AdaptiveAvgPool2d(1)(x), adaptive_avg_pool2d(x, {1, 1}), 0, 0);
  nn::Conv2d conv(3, 4, 3, {.stride = {2, 2}, .padding = {1, 1}}, true, g);
  expect_close(conv(x), conv2d(x, conv.weight, conv.bias, conv.options), 0, 0);
  nn::Linear fc(6, 5, false, g);
  EXPECT_FALSE(fc.bias.defined());
  EXPECT_EQ(fc.state_dict().size(), 1u);
  Tensor x2 = Tensor::randn({4, 6}, g);
  expect_close(fc(x2), linear(x2, fc.weight), 0, 0);
  EXPECT_DUET_ERROR(fc(Tensor::zeros({2, 7})), "Linear", "(2, 7)", "in_features = 6");
  EXPECT_EQ(nn::MaxPool2d(2).extra_repr(),
            "kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False");
}

TEST(Layers, DropoutOnlyInTraining) {
  Generator g(5);
  nn::Dropout drop(0.5, g);
  Tensor x = Tensor::ones({1000});
  Tensor y = drop(x);
  std::vector<double> v = y.to_vector<double>();
  int zeros = 0;
  for (double e : v) {
    EXPECT_TRUE(e == 0.0 || e == 2.0) << e;
    zeros += e == 0.0;
  }
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 600);
  drop.eval();
  expect_close(drop(x), x, 0, 0);
  // Same generator seed, same mask.
  Generator g1(8), g2(8);
  nn::Dropout d1(0.3, g1), d2(0.3, g2);
  expect_close(d1(x), d2(x), 0, 0);
  EXPECT_DUET_ERROR(nn::Dropout(1.5), "Dropout", "1.5");
}

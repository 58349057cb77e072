// Eager autocast against graph autocast, bit for bit (bit_exact): training steps through
// check_equivalence (outputs, loss, float32 gradients, parameters, BN running statistics) and
// eval-mode forward passes, for an MLP, a small CNN with batch norm and resnet18 at 32x32.
#include "duet/amp.h"
#include "duet/equivalence.h"
#include "duet/models/zoo.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "test_util.h"

using namespace duet;

namespace {

std::shared_ptr<nn::Module> mlp(Generator& gen) {
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(48, 32, true, gen),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(32, 32, true, gen),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(32, 5, true, gen)});
}

std::shared_ptr<nn::Module> small_cnn(Generator& gen) {
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(3, 8, 3, nn::Conv2dOptions{.padding = 1}, true, gen),
      std::make_shared<nn::BatchNorm2d>(8), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(nn::Pool2dOptions{.kernel = 2}),
      std::make_shared<nn::Conv2d>(8, 8, 3, nn::Conv2dOptions{.padding = 1}, false, gen),
      std::make_shared<nn::BatchNorm2d>(8), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(8 * 2 * 2, 5, true, gen)});
}

std::vector<std::pair<Tensor, Tensor>> batches(int n, const Shape& x_shape, int64_t classes,
                                               uint64_t seed) {
  Generator gen(seed);
  std::vector<std::pair<Tensor, Tensor>> r;
  for (int i = 0; i < n; ++i) {
    Tensor x = Tensor::randn(x_shape, gen);
    Tensor y = argmax(Tensor::randn({x_shape[0], classes}, gen), 1);
    r.emplace_back(x, y);
  }
  return r;
}

Tensor ce(const Tensor& out, const Tensor& y) {
  return cross_entropy(out, y);
}

void expect_train_equivalent(nn::Module& net, const std::vector<std::pair<Tensor, Tensor>>& data,
                             int steps, DType lowp) {
  EquivalenceReport r =
      check_equivalence(net, ce, data, steps, {.bit_exact = true, .autocast = lowp});
  EXPECT_TRUE(r.equivalent) << r.str();
  EXPECT_EQ(r.max_rel_diff, 0.0) << r.str();
}

// Eval mode: eager under the scope against the compiled eval graph, same bits.
void expect_eval_equivalent(nn::Module& net, const Tensor& x, DType lowp) {
  net.eval();
  Tensor eager;
  {
    NoGradGuard ng;
    auto scope = autocast(lowp);
    eager = net(x);
  }
  Graph g;
  Tensor y = net(g.input("x", x.shape()));
  Executable exe = compile(g, {y}, {.bit_exact = true, .autocast = lowp});
  Tensor got = exe.run({{"x", x}})[0];
  EXPECT_EQ(got.dtype(), eager.dtype());
  EXPECT_EQ(got.to(float32).to_vector<float>(), eager.to(float32).to_vector<float>());
  // Close to float32 as well (not equal: low precision).
  Tensor ref;
  {
    NoGradGuard ng;
    ref = net(x);
  }
  const double scale = max(abs(ref), {}, false).item();
  EXPECT_LE(max(abs(sub(got.to(float32), ref)), {}, false).item(),
            (lowp == bfloat16 ? 5e-2 : 1e-2) * scale + 1e-3);
  net.train();
}

}  // namespace

class AutocastEquivalence : public ::testing::TestWithParam<DType> {};

TEST_P(AutocastEquivalence, Mlp) {
  Generator gen(0);
  auto net = mlp(gen);
  expect_train_equivalent(*net, batches(2, {6, 3, 4, 4}, 5, 1), 3, GetParam());
  expect_eval_equivalent(*net, batches(1, {6, 3, 4, 4}, 5, 2)[0].first, GetParam());
}

TEST_P(AutocastEquivalence, SmallCnnWithBatchNorm) {
  Generator gen(0);
  auto net = small_cnn(gen);
  expect_train_equivalent(*net, batches(2, {4, 3, 4, 4}, 5, 3), 3, GetParam());
  // A few real steps first, so the running statistics are not the initial ones.
  {
    optim::SGD opt(net->parameters(), 0.05);
    for (const auto& [x, y] : batches(3, {4, 3, 4, 4}, 5, 4)) {
      opt.zero_grad();
      Tensor l;
      {
        auto scope = autocast(GetParam());
        l = ce((*net)(x), y);
      }
      l.backward();
      opt.step();
    }
  }
  expect_eval_equivalent(*net, batches(1, {4, 3, 4, 4}, 5, 5)[0].first, GetParam());
}

TEST(AutocastEquivalenceZoo, Resnet18Bfloat16) {
  Generator gen(0);
  auto net = models::create_model("resnet18", 10, gen);
  expect_train_equivalent(*net, batches(1, {2, 3, 32, 32}, 10, 6), 1, bfloat16);
  expect_eval_equivalent(*net, batches(1, {2, 3, 32, 32}, 10, 7)[0].first, bfloat16);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AutocastEquivalence, ::testing::Values(bfloat16, float16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

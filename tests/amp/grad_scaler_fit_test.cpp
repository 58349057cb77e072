// fit with FitOptions::grad_scaler: float16 training under autocast converges with loss
// scaling; a scale that starts far too large is backed off (the skipped steps show in the
// logs as "skipped_steps", the scale as "loss_scale"); eager and graph fit agree bit for bit.
#include <cmath>
#include <limits>

#include "duet/amp.h"
#include "duet/data/dataloader.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train/fit.h"
#include "test_util.h"

using namespace duet;

namespace {

// 256 samples of 16 features, 4 classes from a random linear map (learnable).
// poison: sample 37's first feature is inf, so the one batch per epoch that holds it gives inf
// and NaN gradients (an overflow on demand) and must be skipped.
struct Task {
  Tensor x, y;
  Task(int64_t n, uint64_t seed, bool poison = false) {
    Generator gen(seed);
    x = Tensor::randn({n, 16}, gen);
    Generator wgen(99);
    y = argmax(matmul(x, Tensor::randn({16, 4}, wgen)), 1);
    if (poison) {
      std::vector<float> v = x.to_vector<float>();
      v[37 * 16] = std::numeric_limits<float>::infinity();
      x = Tensor::from_vector(v, x.shape());
    }
  }
};

struct FitRun {
  train::History history;
  train::Logs eval;
  std::vector<Tensor> params;
  double scale = 0;
  int64_t skipped = 0;
};

FitRun run(train::Execution mode, std::optional<DType> autocast, bool poison, bool adam = false) {
  Task data(256, 1, poison), val(128, 2);
  Generator gen(3);
  auto net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(16, 32, true, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(32, 4, true, gen)});
  std::unique_ptr<optim::Optimizer> opt;
  if (adam)
    opt = std::make_unique<optim::Adam>(net->parameters(), 0.01);
  else
    opt = std::make_unique<optim::SGD>(net->parameters(), 0.1, 0.9);
  amp::GradScaler scaler({.init_scale = 65536.0, .growth_interval = 10});
  data::DataLoader loader(data.x, data.y, 32, /*shuffle=*/true, /*seed=*/4);
  data::DataLoader val_loader(val.x, val.y, 64, /*shuffle=*/false);
  FitRun r;
  r.history = train::fit(*net, train::cross_entropy_loss, *opt, loader,
                         {.epochs = 8,
                          .mode = mode,
                          .metrics = {std::make_shared<train::Accuracy>()},
                          .bit_exact = true,
                          .progress = train::Progress::none,
                          .autocast = autocast,
                          .grad_scaler = &scaler});
  r.eval = train::evaluate(*net, train::cross_entropy_loss, val_loader,
                           {.mode = mode,
                            .metrics = {std::make_shared<train::Accuracy>()},
                            .bit_exact = true,
                            .autocast = autocast});
  for (const Tensor& p : net->parameters()) r.params.push_back(p.clone());
  r.scale = scaler.get_scale();
  r.skipped = scaler.skipped_steps();
  return r;
}

void expect_same(const FitRun& a, const FitRun& b) {
  ASSERT_EQ(a.params.size(), b.params.size());
  for (size_t i = 0; i < a.params.size(); ++i)
    EXPECT_EQ(a.params[i].to_vector<float>(), b.params[i].to_vector<float>()) << "param " << i;
  EXPECT_EQ(a.scale, b.scale);
  EXPECT_EQ(a.skipped, b.skipped);
  EXPECT_EQ(a.history.values("loss_scale"), b.history.values("loss_scale"));
  EXPECT_EQ(a.history.values("skipped_steps"), b.history.values("skipped_steps"));
}

}  // namespace

// float32 with one poisoned batch per epoch: those 8 steps are skipped (the logs count them),
// the scale backs off at each and grows after 10 good steps; training converges anyway and
// eager and graph agree bit for bit (SGD with momentum, Adam).
TEST(GradScalerFit, SkipsPoisonedStepsEagerEqualsGraph) {
  for (bool adam : {false, true}) {
    SCOPED_TRACE(adam ? "adam" : "sgd");
    const FitRun eager = run(train::Execution::eager, std::nullopt, true, adam);
    const FitRun graph = run(train::Execution::graph, std::nullopt, true, adam);
    expect_same(eager, graph);
    EXPECT_EQ(eager.skipped, 8);
    EXPECT_EQ(eager.history.values("skipped_steps"),
              (std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(eager.history.values("loss_scale").back(), eager.scale);
    EXPECT_LT(eager.scale, 65536.0 * 8);  // 8 halvings, and doublings only after 10 good steps
    EXPECT_GT(eager.eval.at("accuracy"), 0.8);
  }
}

// float16 autocast with the default scale 2^16: converges like float32, parameters stay
// float32.
TEST(GradScalerFit, Float16AutocastConverges) {
  const FitRun fp32 = run(train::Execution::eager, std::nullopt, false);
  const FitRun eager = run(train::Execution::eager, float16, false);
  const auto& epochs = eager.history.epochs;
  ASSERT_EQ(epochs.size(), 8u);
  EXPECT_LT(epochs.back().at("loss"), 0.6 * epochs.front().at("loss"));
  EXPECT_NEAR(eager.eval.at("accuracy"), fp32.eval.at("accuracy"), 0.04);
  EXPECT_GT(eager.eval.at("accuracy"), 0.8);
  for (const Tensor& p : eager.params) EXPECT_EQ(p.dtype(), float32);
  // 2^16 times a float16 gradient may overflow on the first step or two (as with PyTorch)
  EXPECT_LE(eager.skipped, 2);
}

// The same in graph mode: eager and graph float16 training with loss scaling, bit for bit.
TEST(GradScalerFit, Float16AutocastEagerEqualsGraph) {
  expect_same(run(train::Execution::eager, float16, true),
              run(train::Execution::graph, float16, true));
}

// Without a scaler nothing about scaling is logged; a disabled scaler is the same as none.
TEST(GradScalerFit, DisabledScalerLogsNothing) {
  Task data(64, 1);
  Generator gen(3);
  nn::Linear net(16, 4, true, gen);
  optim::SGD opt(net.parameters(), 0.1);
  amp::GradScaler off({.enabled = false});
  data::DataLoader loader(data.x, data.y, 32, false);
  auto h = train::fit(net, train::cross_entropy_loss, opt, loader,
                      {.epochs = 1, .progress = train::Progress::none, .grad_scaler = &off});
  EXPECT_FALSE(h.epochs[0].contains("skipped_steps"));
}

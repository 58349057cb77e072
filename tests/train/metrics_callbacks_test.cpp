// Metrics against hand computation, EarlyStopping's Keras semantics, LRSchedule driving
// schedulers from fit, and gradient clipping against a hand-computed clipped step.
#include <cmath>
#include <filesystem>

#include "duet/data/dataloader.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train/callbacks.h"
#include "duet/train/fit.h"
#include "duet/train/model_checkpoint.h"
#include "duet/train/profile_callback.h"
#include "duet/train/tensorboard_callback.h"
#include "test_util.h"

using namespace duet;

namespace {

Tensor from(const std::vector<float>& v, const Shape& s) {
  return Tensor::from_vector(v, s);
}

}  // namespace

TEST(Metrics, AccuracyTopKMeanByHand) {
  // 4 samples, 3 classes. Row argmaxes: 2, 0, 1, 1; targets 2, 1, 1, 0.
  Tensor out = from({0.1f, 0.2f, 0.7f,  //
                     0.5f, 0.4f, 0.1f,  //
                     0.2f, 0.6f, 0.2f,  //
                     0.3f, 0.4f, 0.3f},
                    {4, 3});
  Tensor y = Tensor::from_vector(std::vector<int64_t>{2, 1, 1, 0}, {4});
  train::Accuracy acc;
  acc.reset();
  acc.update(out, y);
  EXPECT_DOUBLE_EQ(acc.compute(), 2.0 / 4.0);
  // top-2: row 1's target (0.4) is second: hit; row 3's target 0.3 ties 0.3 for second place
  // (only 0.4 is strictly higher): hit. All 4.
  train::TopKAccuracy top2(2), top1(1);
  top2.update(out, y);
  top1.update(out, y);
  EXPECT_EQ(top2.name(), "top2_accuracy");
  EXPECT_DOUBLE_EQ(top2.compute(), 1.0);
  EXPECT_DOUBLE_EQ(top1.compute(), 2.0 / 4.0);
  // A second batch accumulates: 2 more samples, one right.
  Tensor out2 = from({1, 0, 0, 1, 0, 0}, {2, 3});
  acc.update(out2, Tensor::from_vector(std::vector<int64_t>{0, 2}, {2}));
  EXPECT_DOUBLE_EQ(acc.compute(), 3.0 / 6.0);
  // One-hot targets shaped like the output.
  train::Accuracy onehot;
  onehot.update(out2, from({1, 0, 0, 0, 0, 1}, {2, 3}));
  EXPECT_DOUBLE_EQ(onehot.compute(), 0.5);
  acc.reset();
  EXPECT_EQ(acc.compute(), 0.0);
  // Mean weights each batch mean by its batch size.
  train::Mean m("loss");
  m.update(Tensor::scalar(1.0), Tensor::zeros({3}));
  m.update(Tensor::scalar(3.0), Tensor::zeros({1}));
  EXPECT_DOUBLE_EQ(m.compute(), (1.0 * 3 + 3.0 * 1) / 4);
  EXPECT_DUET_ERROR(acc.update(out, Tensor::zeros({5})), "Accuracy: target has shape (5,)");
  EXPECT_DUET_ERROR(train::TopKAccuracy(0), "TopKAccuracy: k = 0");
}

TEST(Metrics, TotalsAreTheSumsThatDistributedFitAddsOverRanks) {
  // Two "ranks" of 4 and 2 samples: summing their totals and setting them on one metric
  // gives the value over all 6 (what fit(..., {.distributed = true}) does with an all-reduce).
  Tensor out = from({0.1f, 0.9f, 0.8f, 0.2f, 0.3f, 0.7f, 0.6f, 0.4f}, {4, 2});
  Tensor y = Tensor::from_vector(std::vector<int64_t>{1, 0, 0, 0}, {4});  // 3 right
  Tensor out2 = from({0.9f, 0.1f, 0.2f, 0.8f}, {2, 2});
  Tensor y2 = Tensor::from_vector(std::vector<int64_t>{1, 1}, {2});  // 1 right
  train::Accuracy a, b;
  a.update(out, y);
  b.update(out2, y2);
  EXPECT_EQ(a.totals(), (std::vector<double>{3, 4}));
  EXPECT_EQ(b.totals(), (std::vector<double>{1, 2}));
  a.set_totals({3 + 1, 4 + 2});
  EXPECT_DOUBLE_EQ(a.compute(), 4.0 / 6.0);
  train::TopKAccuracy t(1);
  t.update(out2, y2);
  EXPECT_EQ(t.totals(), (std::vector<double>{1, 2}));
  t.set_totals({5, 10});
  EXPECT_DOUBLE_EQ(t.compute(), 0.5);
  train::Mean m("loss");
  EXPECT_EQ(m.totals(), (std::vector<double>{0, 0}));
  m.update(Tensor::scalar(2.0), Tensor::zeros({3}));
  EXPECT_EQ(m.totals(), (std::vector<double>{6, 3}));
  m.set_totals({6 + 1, 3 + 1});
  EXPECT_DOUBLE_EQ(m.compute(), 7.0 / 4.0);
  m.reset();
  EXPECT_EQ(m.compute(), 0.0);
  EXPECT_DUET_ERROR(m.set_totals({1}), "Mean 'loss': set_totals got 1 values");
  EXPECT_DUET_ERROR(a.set_totals({1, -1}), "Accuracy: set_totals");
  // A metric of one's own without totals: fit averages compute() over the ranks instead.
  struct Plain : train::Metric {
    std::string name() const override { return "plain"; }
    void reset() override {}
    void update(const Tensor&, const Tensor&) override {}
    double compute() const override { return 1; }
  } plain;
  EXPECT_TRUE(plain.totals().empty());
}

TEST(Callbacks, TheOnesThatWriteRunOnRankZeroOnly) {
  EXPECT_TRUE(train::ProgressBar(train::Progress::none).rank_zero_only());
  EXPECT_TRUE(train::ModelCheckpoint({.last = "never-written"}).rank_zero_only());
  const std::string tb_dir = ::testing::TempDir() + "duet_rank_zero_tb";
  EXPECT_TRUE(train::TensorBoard(tb_dir).rank_zero_only());
  std::filesystem::remove_all(tb_dir);
  EXPECT_TRUE(train::ProfileSteps(0, 1, "").rank_zero_only());
  EXPECT_FALSE(train::EarlyStopping().rank_zero_only());
}

namespace {

train::FitState state_at(int64_t epoch) {
  train::FitState s;
  s.epoch = epoch;
  return s;
}

train::Logs logs_with(const std::string& k, double v) {
  train::Logs l;
  l.set(k, v);
  return l;
}

}  // namespace

TEST(EarlyStopping, KerasPatienceAndMinDelta) {
  // val_loss 1.0, 0.9, 0.95, 0.899, 0.93: with patience 2 and min_delta 0.01, 0.899 is no
  // improvement over 0.9 (needs < 0.89): epochs 2, 3 wait; stop at epoch 3.
  train::EarlyStopping es({.monitor = "val_loss", .patience = 2, .min_delta = 0.01});
  train::FitState s;
  es.on_train_begin(s);
  const std::vector<double> v = {1.0, 0.9, 0.95, 0.899, 0.93};
  int64_t stopped = -1;
  for (int64_t e = 0; e < 5 && stopped < 0; ++e) {
    s = state_at(e);
    es.on_epoch_end(s, logs_with("val_loss", v[e]));
    if (s.stop_training) stopped = e;
  }
  EXPECT_EQ(stopped, 3);
  EXPECT_EQ(es.stopped_epoch(), 3);
  EXPECT_EQ(es.best_epoch(), 1);
  EXPECT_EQ(es.best(), 0.9);
  // mode auto: "val_accuracy" is maximised.
  train::EarlyStopping acc({.monitor = "val_accuracy", .patience = 0});
  acc.on_train_begin(s);
  s = state_at(0);
  acc.on_epoch_end(s, logs_with("val_accuracy", 0.5));
  s = state_at(1);
  acc.on_epoch_end(s, logs_with("val_accuracy", 0.6));
  EXPECT_FALSE(s.stop_training);
  s = state_at(2);
  acc.on_epoch_end(s, logs_with("val_accuracy", 0.6));
  EXPECT_TRUE(s.stop_training);
  EXPECT_DUET_ERROR(acc.on_epoch_end(s, logs_with("loss", 1)), "no value named 'val_accuracy'");
  EXPECT_DUET_ERROR(train::EarlyStopping({.mode = "up"}), "EarlyStopping: mode 'up'");
}

TEST(EarlyStopping, RestoresBestWeightsInPlaceThroughFit) {
  // lr 50 makes the loss blow up after the first epochs; the best epoch's weights come back
  // into the very tensors the optimizer holds.
  Generator gen(3);
  Tensor x = Tensor::randn({32, 4}, gen);
  Tensor y = argmax(x, 1);
  auto net = std::make_shared<nn::Linear>(4, 4, true, gen);
  optim::SGD opt(net->parameters(), 0.05);
  data::DataLoader loader(x, y, 8, false);
  struct Snap : train::Callback {
    std::vector<std::vector<float>> weights;
    void on_epoch_end(train::FitState& s, const train::Logs&) override {
      weights.push_back(s.model->parameters()[0].to_vector<float>());
      if (s.epoch == 1) s.optimizer->set_lr(50.0);  // diverge from epoch 2 on
    }
  };
  auto snap = std::make_shared<Snap>();
  auto es = std::make_shared<train::EarlyStopping>(train::EarlyStoppingOptions{
      .monitor = "loss", .patience = 2, .restore_best_weights = true});
  const Tensor weight = net->weight;
  train::History h = train::fit(*net, train::cross_entropy_loss, opt, loader,
                                {.epochs = 20, .callbacks = {snap, es},
                                 .progress = train::Progress::none});
  ASSERT_GE(es->best_epoch(), 0);
  EXPECT_GE(es->stopped_epoch(), 0);
  EXPECT_LT(h.epochs.size(), 20u);
  EXPECT_EQ(weight.to_vector<float>(), snap->weights[static_cast<size_t>(es->best_epoch())]);
  EXPECT_EQ(net->weight.data_ptr(), weight.data_ptr());
}

TEST(LRSchedule, OneCyclePerStepThroughFit) {
  Generator gen(3);
  Tensor x = Tensor::randn({20, 4}, gen);
  Tensor y = argmax(x, 1);
  auto net = std::make_shared<nn::Linear>(4, 4, true, gen);
  optim::SGD opt(net->parameters(), 0.1);
  data::DataLoader loader(x, y, 5, false);  // 4 steps per epoch
  auto sched = std::make_shared<optim::OneCycleLR>(opt, 0.5, 8);
  optim::SGD ref_opt({Tensor::zeros({1}).requires_grad_()}, 0.1);
  optim::OneCycleLR ref(ref_opt, 0.5, 8);
  std::vector<double> expected;
  for (int i = 0; i < 8; ++i) {
    expected.push_back(ref.get_last_lr());
    ref.step();
  }
  struct Lrs : train::Callback {
    std::vector<double> seen;
    void on_batch_end(train::FitState&, const train::Logs& logs) override {
      seen.push_back(logs.at("lr"));
    }
  };
  auto lrs = std::make_shared<Lrs>();
  // Lrs first: it reads the lr each step used, before LRSchedule steps the scheduler.
  train::History h = train::fit(
      *net, train::cross_entropy_loss, opt, loader,
      {.epochs = 2, .callbacks = {lrs, std::make_shared<train::LRSchedule>(sched, train::Interval::step)},
       .progress = train::Progress::none});
  EXPECT_EQ(lrs->seen, expected);
  EXPECT_EQ(h.values("lr"), (std::vector<double>{expected[3], expected[7]}));
  EXPECT_EQ(sched->last_epoch(), 8);
}

TEST(LRSchedule, PlateauMonitorsALogValue) {
  Generator gen(3);
  Tensor x = Tensor::randn({8, 4}, gen);
  Tensor y = argmax(x, 1);
  auto net = std::make_shared<nn::Linear>(4, 4, true, gen);
  optim::SGD opt(net->parameters(), 1.0);
  data::DataLoader loader(x, y, 8, false);
  auto plateau = std::make_shared<optim::ReduceLROnPlateau>(
      opt, optim::PlateauOptions{.mode = "max", .factor = 0.5, .patience = 0});
  // "loss" is maximised here, so every epoch after a lower loss is "bad": the lr halves when
  // the loss does not rise.
  train::History h = train::fit(
      *net, train::cross_entropy_loss, opt, loader,
      {.epochs = 4, .callbacks = {std::make_shared<train::LRSchedule>(plateau, train::Interval::epoch, "loss")},
       .progress = train::Progress::none});
  const std::vector<double> loss = h.values("loss"), lr = h.values("lr");
  double expect_lr = 1.0, best = -INFINITY;
  for (size_t e = 0; e < loss.size(); ++e) {
    EXPECT_EQ(lr[e], expect_lr) << "epoch " << e;
    if (loss[e] > best * (1 + 1e-4)) best = loss[e];
    else expect_lr *= 0.5;
  }
  EXPECT_LT(opt.lr(), 1.0);
  EXPECT_DUET_ERROR(train::LRSchedule(plateau, train::Interval::step), "ReduceLROnPlateau");
}

namespace {

// One SGD step on mse(x W^T + b, t) with clipping, computed by hand in double.
std::vector<double> clipped_step_by_hand(const std::vector<double>& X, const std::vector<double>& T,
                                         std::vector<double> W, std::vector<double> B, double lr,
                                         double max_norm) {
  const int n = 4, in = 3, o = 2;
  std::vector<double> gW(o * in, 0), gB(o, 0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < o; ++j) {
      double pred = B[j];
      for (int k = 0; k < in; ++k) pred += X[i * in + k] * W[j * in + k];
      const double d = 2.0 * (pred - T[i * o + j]) / (n * o);
      for (int k = 0; k < in; ++k) gW[j * in + k] += d * X[i * in + k];
      gB[j] += d;
    }
  double sq = 0;
  for (double g : gW) sq += g * g;
  for (double g : gB) sq += g * g;
  const double coef = std::min(1.0, max_norm / (std::sqrt(sq) + 1e-6));
  std::vector<double> out;
  for (size_t i = 0; i < W.size(); ++i) out.push_back(W[i] - lr * coef * gW[i]);
  for (size_t i = 0; i < B.size(); ++i) out.push_back(B[i] - lr * coef * gB[i]);
  return out;
}

}  // namespace

TEST(ClipGradNorm, OneStepMatchesHandComputationBothModes) {
  const std::vector<float> X = {1, 2, 3, -1, 0.5f, 2, 0, 1, -2, 3, 1, 1};
  const std::vector<float> T = {1, 0, 0, 1, 2, -1, 0.5f, 0.5f};
  for (double max_norm : {0.1, 1000.0}) {  // clipped, and a norm below the limit (coef 1)
    for (auto mode : {train::Execution::eager, train::Execution::graph}) {
      Generator gen(5);
      auto net = std::make_shared<nn::Linear>(3, 2, true, gen);
      std::vector<double> W, B;
      for (float v : net->weight.to_vector<float>()) W.push_back(v);
      for (float v : net->bias.to_vector<float>()) B.push_back(v);
      std::vector<double> xd(X.begin(), X.end()), td(T.begin(), T.end());
      const std::vector<double> expected = clipped_step_by_hand(xd, td, W, B, 0.1, max_norm);
      optim::SGD opt(net->parameters(), 0.1);
      data::DataLoader loader(from(X, {4, 3}), from(T, {4, 2}), 4, false);
      train::fit(*net, [](const Tensor& p, const Tensor& t) { return mse_loss(p, t); }, opt,
                 loader,
                 {.mode = mode, .clip_grad_norm = max_norm, .progress = train::Progress::none});
      std::vector<float> got = net->weight.to_vector<float>();
      for (float v : net->bias.to_vector<float>()) got.push_back(v);
      ASSERT_EQ(got.size(), expected.size());
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_NEAR(got[i], expected[i], 1e-6) << "max_norm " << max_norm << " mode "
                                               << static_cast<int>(mode) << " value " << i;
    }
  }
  // The function itself: norm 5 (3, 4) clipped to 1 scales by 1 / (5 + 1e-6).
  Tensor total;
  auto g = train::clip_grad_norm({from({3}, {1}), Tensor(), from({4}, {1})}, 1.0, &total);
  EXPECT_NEAR(total.item<double>(), 5.0, 1e-6);
  EXPECT_FALSE(g[1].defined());
  EXPECT_NEAR(g[0].item<double>(), 3.0 / (5 + 1e-6), 1e-7);
  EXPECT_NEAR(g[2].item<double>(), 4.0 / (5 + 1e-6), 1e-7);
  EXPECT_DUET_ERROR(train::clip_grad_norm({}, 0.0), "clip_grad_norm: max_norm = 0");
}

// docs/guide.md, "Training with fit": each TEST holds ```cpp blocks of that section line for
// line (UserGuide.SnippetsAreHere), plus assertions on what their comments promise.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "duet/autograd.h"
#include "duet/data/dataloader.h"
#include "duet/nn.h"
#include "duet/ops.h"
#include "duet/optim.h"
#include "duet/train/callbacks.h"
#include "duet/train/fit.h"
#include "guide_toy.h"

namespace {

using guide_toy::Toy;
using guide_toy::toy_net;

}  // namespace

TEST(GuideFit, FitWithValidationAndAccuracy) {
  Toy d = guide_toy::toy_data();
  duet::Tensor inputs = d.inputs, labels = d.labels;
  testing::internal::CaptureStdout();
  auto net = toy_net();
  duet::optim::SGD sgd(net->parameters(), /*lr=*/0.1, /*momentum=*/0.9);
  duet::data::DataLoader train(inputs, labels, /*batch_size=*/32, /*shuffle=*/true, /*seed=*/0);
  duet::data::DataLoader val(inputs, labels, /*batch_size=*/64, /*shuffle=*/false);
  duet::train::History history = duet::train::fit(
      *net, duet::train::cross_entropy_loss, sgd, train,
      {.epochs = 10,
       .validation = &val,
       .metrics = {std::make_shared<duet::train::Accuracy>()},
       .progress = duet::train::Progress::lines});
  double last = history.values("val_accuracy").back();  // > 0.95
  const std::string printed = testing::internal::GetCapturedStdout();
  EXPECT_GT(last, 0.95);
  ASSERT_EQ(history.epochs.size(), 10u);
  // One line per epoch, the guide's format; the keys in the guide's order.
  EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 10) << printed;
  EXPECT_NE(printed.find("epoch 10/10 - 8/8 - "), std::string::npos) << printed;
  EXPECT_NE(printed.find(" img/s - loss "), std::string::npos) << printed;
  EXPECT_NE(printed.find(" - accuracy "), std::string::npos) << printed;
  EXPECT_NE(printed.find(" - val_loss "), std::string::npos) << printed;
  EXPECT_NE(printed.find(" - lr 0.1\n"), std::string::npos) << printed;
  std::cerr << "guide fit output (for the guide's sample line):\n" << printed;
  std::vector<std::string> keys;
  for (const auto& [k, v] : history.epochs[9].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"loss", "accuracy", "val_loss", "val_accuracy", "lr"}));
  // evaluate() gives the last epoch's validation values (the model did not change since).
  duet::train::Logs again = duet::train::evaluate(
      *net, duet::train::cross_entropy_loss, val,
      {.metrics = {std::make_shared<duet::train::Accuracy>()}});
  EXPECT_EQ(again.at("loss"), history.values("val_loss").back());
  EXPECT_EQ(again.at("accuracy"), last);
}

TEST(GuideFit, CustomMetric) {
  struct MeanAbsoluteError : duet::train::Metric {
    duet::Tensor total;  // float64 scalar, on the outputs' device
    int64_t count = 0;
    std::string name() const override { return "mae"; }
    void reset() override { total = duet::Tensor::scalar(0.0, duet::float64); count = 0; }
    void update(const duet::Tensor& output, const duet::Tensor& target) override {
      duet::Tensor err = duet::sum(duet::abs(duet::sub(output, target)));
      total = duet::add(total, err.to(duet::float64));
      count += output.numel();
    }
    double compute() const override { return count ? total.item() / count : 0.0; }
  };
  MeanAbsoluteError mae;
  mae.reset();
  mae.update(duet::Tensor::from_vector<float>({1, 2, 3}, {3}),
             duet::Tensor::from_vector<float>({1, 0, 4}, {3}));
  mae.update(duet::Tensor::from_vector<float>({0}, {1}), duet::Tensor::from_vector<float>({4}, {1}));
  EXPECT_DOUBLE_EQ(mae.compute(), (0 + 2 + 1 + 4) / 4.0);
  EXPECT_EQ(mae.name(), "mae");
  // Through fit, on a regression: the epoch's "mae" is the metric's value.
  duet::Generator gen(2);
  duet::Tensor x = duet::Tensor::randn({16, 3}, gen), y = duet::Tensor::randn({16, 1}, gen);
  auto lin = std::make_shared<duet::nn::Linear>(3, 1, true, gen);
  duet::optim::SGD opt(lin->parameters(), 0.0);  // lr 0: the model does not change
  duet::data::DataLoader loader(x, y, 16, false);
  auto h = duet::train::fit(*lin, [](const duet::Tensor& p, const duet::Tensor& t) {
    return duet::mse_loss(p, t);
  }, opt, loader, {.metrics = {std::make_shared<MeanAbsoluteError>()},
                   .progress = duet::train::Progress::none});
  duet::NoGradGuard no_grad;
  const double expected = duet::mean(duet::abs(duet::sub((*lin)(x), y))).item();
  EXPECT_NEAR(h.values("mae")[0], expected, 1e-6);
}

TEST(GuideFit, CallbacksScheduleEarlyStoppingClipping) {
  Toy d = guide_toy::toy_data();
  duet::Tensor inputs = d.inputs, labels = d.labels;
  duet::data::DataLoader train(inputs, labels, /*batch_size=*/32, /*shuffle=*/true, /*seed=*/0);
  duet::data::DataLoader val(inputs, labels, /*batch_size=*/64, /*shuffle=*/false);
  testing::internal::CaptureStdout();
  struct PrintEvery5 : duet::train::Callback {
    void on_epoch_end(duet::train::FitState& s, const duet::train::Logs& logs) override {
      if ((s.epoch + 1) % 5 == 0) std::cout << "epoch " << s.epoch + 1 << ": " << logs.str() << "\n";
    }
  };
  auto net = toy_net();
  duet::optim::SGD sgd(net->parameters(), 0.1, 0.9);
  auto one_cycle = std::make_shared<duet::optim::OneCycleLR>(sgd, /*max_lr=*/0.5,
                                                              /*total_steps=*/20 * 8);
  auto stop = std::make_shared<duet::train::EarlyStopping>(duet::train::EarlyStoppingOptions{
      .monitor = "val_loss", .patience = 3, .restore_best_weights = true});
  duet::train::History history = duet::train::fit(
      *net, duet::train::cross_entropy_loss, sgd, train,
      {.epochs = 20,
       .validation = &val,
       .callbacks = {std::make_shared<duet::train::LRSchedule>(one_cycle,
                                                               duet::train::Interval::step),
                     stop, std::make_shared<PrintEvery5>()},
       .clip_grad_norm = 1.0,
       .progress = duet::train::Progress::none});
  // history.epochs.size() == 20 unless `stop` ended fit early (stop->stopped_epoch() >= 0)
  const std::string printed = testing::internal::GetCapturedStdout();
  if (stop->stopped_epoch() < 0) {
    EXPECT_EQ(history.epochs.size(), 20u);
  } else {
    EXPECT_EQ(history.epochs.size(), static_cast<size_t>(stop->stopped_epoch() + 1));
  }
  EXPECT_NE(printed.find("epoch 5: loss "), std::string::npos) << printed;
  // The schedule was stepped once per optimizer step.
  EXPECT_EQ(one_cycle->last_epoch(), static_cast<int64_t>(history.epochs.size()) * 8);
  EXPECT_LT(history.values("val_loss").back(), history.values("val_loss").front());
}

TEST(GuideFit, EagerAndGraphSameLosses) {
  Toy d = guide_toy::toy_data();
  duet::Tensor inputs = d.inputs, labels = d.labels;
  testing::internal::CaptureStderr();  // the graph's "recompiling" line for the last batch
  std::vector<double> losses[2];
  for (auto mode : {duet::train::Execution::eager, duet::train::Execution::graph}) {
    auto net = toy_net();
    duet::optim::Adam adam(net->parameters(), 0.01);
    duet::data::DataLoader loader(inputs, labels, 48, /*shuffle=*/true, /*seed=*/0);
    auto h = duet::train::fit(*net, duet::train::cross_entropy_loss, adam, loader,
                              {.epochs = 3, .mode = mode, .bit_exact = true,
                               .progress = duet::train::Progress::none});
    losses[mode == duet::train::Execution::graph] = h.values("loss");
  }
  // losses[0] == losses[1]: the same three doubles
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_EQ(losses[0].size(), 3u);
  EXPECT_EQ(losses[0], losses[1]);
  // The (16, 2) last batch compiled once over the 3 epochs.
  size_t n = 0;
  for (size_t at = log.find("recompiling"); at != std::string::npos; at = log.find("recompiling", at + 1)) ++n;
  EXPECT_EQ(n, 1u) << log;
}

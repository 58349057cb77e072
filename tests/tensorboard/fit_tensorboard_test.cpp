// The TensorBoard callback through duet::train::fit, eager and graph: the event files hold the
// history fit returns (epoch scalars, validation scalars), per-step scalars, and the weight and
// gradient histograms of every epoch.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "duet/data.h"
#include "duet/duet.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train.h"
#include "duet/train/fit.h"
#include "duet/train/metrics.h"
#include "event_reader.h"

namespace duet::train {
namespace {

namespace fs = std::filesystem;
using namespace duet::test::tb;

struct Net : nn::Module {
  std::shared_ptr<nn::Linear> fc1, fc2;
  Net() : Module("Net") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 8));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(8, 2));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
};

// tag -> [(step, value)] of every scalar in the event file of `dir`.
std::map<std::string, std::vector<std::pair<int64_t, float>>> scalars(const std::string& dir) {
  std::map<std::string, std::vector<std::pair<int64_t, float>>> out;
  for (const auto& v : summary_values(event_file_in(dir)))
    if (v.value.has(2)) out[v.tag].emplace_back(v.step, v.value.f32(2));
  return out;
}

// tag -> steps of every histogram in the event file of `dir`.
std::map<std::string, std::vector<int64_t>> histograms(const std::string& dir) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& v : summary_values(event_file_in(dir))) {
    if (!v.value.has(5)) continue;
    Fields h = decode(v.value.bytes(5));
    EXPECT_GT(h.f64(3), 0) << v.tag;  // num
    out[v.tag].push_back(v.step);
  }
  return out;
}

void fit_with_tensorboard(Execution mode) {
  const std::string dir =
      fresh_dir(std::string("fit_") + (mode == Execution::eager ? "eager" : "graph"));
  Generator gen(3);
  Tensor x = Tensor::randn({40, 4}, gen);
  Tensor y = Tensor::from_vector(std::vector<double>(40, 0.0), {40}, int64);
  {  // label: whether the first feature is positive
    std::vector<double> x0 = x.to_vector<double>(), labels(40);
    for (int i = 0; i < 40; ++i) labels[i] = x0[static_cast<size_t>(4 * i)] > 0 ? 1 : 0;
    y = Tensor::from_vector(labels, {40}, int64);
  }
  data::DataLoader train(x, y, /*batch_size=*/8, /*shuffle=*/true, /*seed=*/0);
  data::DataLoader val(x, y, /*batch_size=*/20, /*shuffle=*/false);
  auto net = std::make_shared<Net>();
  optim::SGD opt(net->parameters(), 0.1);
  auto tb = std::make_shared<TensorBoard>(dir, TensorBoardOptions{.update_freq = 2});
  History h = fit(*net, cross_entropy_loss, opt, train,
                  {.epochs = 3,
                   .mode = mode,
                   .validation = &val,
                   .metrics = {std::make_shared<Accuracy>()},
                   .callbacks = {tb},
                   .keep_gradients = true,
                   .progress = Progress::none});
  ASSERT_EQ(h.epochs.size(), 3u);

  auto train_scalars = scalars(dir + "/train");
  auto val_scalars = scalars(dir + "/validation");
  for (const char* name : {"loss", "accuracy", "lr"}) {
    const auto& points = train_scalars["epoch_" + std::string(name)];
    ASSERT_EQ(points.size(), 3u) << name;
    for (int64_t e = 0; e < 3; ++e) {
      EXPECT_EQ(points[static_cast<size_t>(e)].first, e);
      EXPECT_EQ(points[static_cast<size_t>(e)].second,
                static_cast<float>(h.epochs[static_cast<size_t>(e)].at(name)))
          << name << " epoch " << e;
    }
  }
  for (const char* name : {"loss", "accuracy"}) {
    const auto& points = val_scalars["epoch_" + std::string(name)];
    ASSERT_EQ(points.size(), 3u) << name;
    for (int64_t e = 0; e < 3; ++e) {
      EXPECT_EQ(
          points[static_cast<size_t>(e)].second,
          static_cast<float>(h.epochs[static_cast<size_t>(e)].at("val_" + std::string(name))));
    }
  }
  // 5 steps per epoch, 15 in all: per-step scalars at global steps 2, 4, ..., 14.
  std::vector<int64_t> steps;
  for (const auto& [step, value] : train_scalars["batch_loss"]) steps.push_back(step);
  EXPECT_EQ(steps, (std::vector<int64_t>{2, 4, 6, 8, 10, 12, 14}));
  auto hist = histograms(dir + "/train");
  for (const char* p : {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}) {
    EXPECT_EQ(hist[std::string("weights/") + p], (std::vector<int64_t>{0, 1, 2})) << p;
    EXPECT_EQ(hist[std::string("gradients/") + p], (std::vector<int64_t>{0, 1, 2})) << p;
  }
  fs::remove_all(dir);
}

TEST(TensorBoardCallback, ThroughFitEager) {
  fit_with_tensorboard(Execution::eager);
}
TEST(TensorBoardCallback, ThroughFitGraph) {
  fit_with_tensorboard(Execution::graph);
}

}  // namespace
}  // namespace duet::train

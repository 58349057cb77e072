// fit() and evaluate(): eager against graph (bit for bit with bit_exact), the partial-batch
// policy (compilations counted from the jit's log), callback order, keep_gradients, progress.
#include <sstream>

#include "duet/data/dataloader.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train/callbacks.h"
#include "duet/train/fit.h"
#include "test_util.h"

using namespace duet;

namespace {

// 50 samples of 8 features, 4 classes that depend on the features (learnable).
struct Toy {
  Tensor x, y;
  explicit Toy(int64_t n = 50, uint64_t seed = 7) {
    Generator gen(seed);
    x = Tensor::randn({n, 8}, gen);
    Tensor w = Tensor::randn({8, 4}, gen);
    y = argmax(matmul(x, w), 1);
  }
};

std::shared_ptr<nn::Sequential> toy_net(uint64_t seed = 1, double dropout = 0.0) {
  Generator gen(seed);
  std::vector<std::shared_ptr<nn::Module>> layers{std::make_shared<nn::Linear>(8, 16, true, gen),
                                                  std::make_shared<nn::ReLU>()};
  if (dropout > 0) layers.push_back(std::make_shared<nn::Dropout>(dropout));
  layers.push_back(std::make_shared<nn::Linear>(16, 4, true, gen));
  return std::make_shared<nn::Sequential>(layers);
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

struct FitRun {
  train::History history;
  std::vector<Tensor> params;
  std::string stderr_text;
};

// A fresh model and optimizer, 3 epochs over 50 samples in batches of 16 (a last batch of 2),
// validation on 20 samples in batches of 8 (a last batch of 4).
FitRun run_fit(train::Execution mode, bool bit_exact, std::optional<double> clip = std::nullopt,
            train::LastBatch last = train::LastBatch::keep, bool adam = false,
            double dropout = 0.0) {
  Toy data, val(20, 9);
  manual_seed(5);  // dropout masks come from the default generator, in both modes
  auto net = toy_net(1, dropout);
  std::unique_ptr<optim::Optimizer> opt;
  if (adam)
    opt = std::make_unique<optim::Adam>(net->parameters(), 0.01);
  else
    opt = std::make_unique<optim::SGD>(net->parameters(), 0.1, 0.9);
  data::DataLoader loader(data.x, data.y, 16, /*shuffle=*/true, /*seed=*/3);
  data::DataLoader val_loader(val.x, val.y, 8, /*shuffle=*/false);
  testing::internal::CaptureStderr();
  FitRun r;
  r.history = train::fit(*net, train::cross_entropy_loss, *opt, loader,
                         {.epochs = 3,
                          .mode = mode,
                          .validation = &val_loader,
                          .metrics = {std::make_shared<train::Accuracy>(),
                                      std::make_shared<train::TopKAccuracy>(2)},
                          .clip_grad_norm = clip,
                          .last_batch = last,
                          .bit_exact = bit_exact,
                          .progress = train::Progress::none});
  r.stderr_text = testing::internal::GetCapturedStderr();
  for (const Tensor& p : net->parameters()) r.params.push_back(p.clone());
  return r;
}

void expect_same_history(const train::History& a, const train::History& b, double rtol) {
  ASSERT_EQ(a.epochs.size(), b.epochs.size());
  for (size_t e = 0; e < a.epochs.size(); ++e) {
    const auto& ia = a.epochs[e].items();
    const auto& ib = b.epochs[e].items();
    ASSERT_EQ(ia.size(), ib.size()) << "epoch " << e;
    for (size_t k = 0; k < ia.size(); ++k) {
      EXPECT_EQ(ia[k].first, ib[k].first);
      if (rtol == 0) {
        EXPECT_EQ(ia[k].second, ib[k].second) << "epoch " << e << " " << ia[k].first;
      } else {
        EXPECT_NEAR(ia[k].second, ib[k].second, rtol * std::max(1.0, std::abs(ia[k].second)))
            << "epoch " << e << " " << ia[k].first;
      }
    }
  }
}

}  // namespace

TEST(Fit, EagerAndGraphBitExactGiveTheSameHistory) {
  FitRun eager = run_fit(train::Execution::eager, true);
  FitRun graph = run_fit(train::Execution::graph, true);
  expect_same_history(eager.history, graph.history, 0.0);
  ASSERT_EQ(eager.params.size(), graph.params.size());
  for (size_t i = 0; i < eager.params.size(); ++i)
    EXPECT_EQ(eager.params[i].to_vector<float>(), graph.params[i].to_vector<float>()) << i;
  // The history holds the expected keys, in order, and training did something.
  std::vector<std::string> keys;
  for (const auto& [k, v] : eager.history.epochs[0].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"loss", "accuracy", "top2_accuracy", "val_loss",
                                            "val_accuracy", "val_top2_accuracy", "lr"}));
  const auto loss = eager.history.values("loss");
  EXPECT_LT(loss[2], loss[0]);
  EXPECT_EQ(eager.history.values("lr"), (std::vector<double>{0.1, 0.1, 0.1}));
}

TEST(Fit, EagerAndGraphBitExactWithDropout) {
  // Dropout draws its masks from the default generator in eager mode and in compiled steps
  // alike, so the histories still match bit for bit.
  FitRun eager = run_fit(train::Execution::eager, true, std::nullopt, train::LastBatch::keep,
                         false, 0.3);
  FitRun graph = run_fit(train::Execution::graph, true, std::nullopt, train::LastBatch::keep,
                         false, 0.3);
  expect_same_history(eager.history, graph.history, 0.0);
  for (size_t i = 0; i < eager.params.size(); ++i)
    EXPECT_EQ(eager.params[i].to_vector<float>(), graph.params[i].to_vector<float>()) << i;
  FitRun no_dropout = run_fit(train::Execution::eager, true);
  EXPECT_NE(no_dropout.history.values("loss")[0], eager.history.values("loss")[0]);
}

TEST(Fit, EagerAndGraphDefaultAgreeWithinRounding) {
  // Adam: the graph's fused update reorders float operations; the histories agree to 1e-5.
  FitRun eager = run_fit(train::Execution::eager, false, std::nullopt, train::LastBatch::keep, true);
  FitRun graph = run_fit(train::Execution::graph, false, std::nullopt, train::LastBatch::keep, true);
  expect_same_history(eager.history, graph.history, 1e-5);
}

TEST(Fit, EagerAndGraphClippedBitExact) {
  FitRun eager = run_fit(train::Execution::eager, true, 0.5);
  FitRun graph = run_fit(train::Execution::graph, true, 0.5);
  expect_same_history(eager.history, graph.history, 0.0);
  for (size_t i = 0; i < eager.params.size(); ++i)
    EXPECT_EQ(eager.params[i].to_vector<float>(), graph.params[i].to_vector<float>()) << i;
  // Clipping changed the run.
  FitRun unclipped = run_fit(train::Execution::eager, true);
  EXPECT_NE(unclipped.history.values("loss")[2], eager.history.values("loss")[2]);
}

TEST(Fit, PartialBatchCompilesOnceOverThreeEpochs) {
  // 50 samples, batch 16: three batches of 16 and one of 2 per epoch. The jit compiles the
  // (2, 8) signature on epoch 0 and reuses it: 2 train compilations in all, so one
  // "recompiling" line; the eval step (20 samples, batch 8: 8, 8, 4) likewise.
  FitRun keep = run_fit(train::Execution::graph, false);
  EXPECT_EQ(count(keep.stderr_text, "jit 'train_step' recompiling"), 1) << keep.stderr_text;
  EXPECT_EQ(count(keep.stderr_text, "jit 'eval_step' recompiling"), 1) << keep.stderr_text;
  EXPECT_EQ(count(keep.stderr_text, "input 0 shape changed from (16, 8) to (2, 8)"), 1);
  // drop: the partial batch is skipped, one train compilation.
  FitRun drop = run_fit(train::Execution::graph, false, std::nullopt, train::LastBatch::drop);
  EXPECT_EQ(count(drop.stderr_text, "jit 'train_step' recompiling"), 0) << drop.stderr_text;
}

namespace {

struct Recorder : train::Callback {
  std::vector<std::string> events;
  std::string tag;
  explicit Recorder(std::string t) : tag(std::move(t)) {}
  void on_train_begin(train::FitState& s) override {
    events.push_back(tag + ":train_begin@" + std::to_string(s.epoch));
  }
  void on_train_end(train::FitState&) override { events.push_back(tag + ":train_end"); }
  void on_epoch_begin(train::FitState& s) override {
    events.push_back(tag + ":epoch_begin" + std::to_string(s.epoch));
  }
  void on_epoch_end(train::FitState& s, const train::Logs& logs) override {
    events.push_back(tag + ":epoch_end" + std::to_string(s.epoch) + " history " +
                     std::to_string(s.history->epochs.size()) + " loss " +
                     (logs.contains("loss") ? "yes" : "no"));
  }
  void on_batch_begin(train::FitState& s) override {
    events.push_back(tag + ":batch_begin" + std::to_string(s.batch));
  }
  void on_batch_end(train::FitState& s, const train::Logs& logs) override {
    events.push_back(tag + ":batch_end" + std::to_string(s.batch) + " step " +
                     std::to_string(s.global_step) + " seen " + std::to_string(s.samples_seen) +
                     (logs.contains("loss") ? " logged" : ""));
  }
};

}  // namespace

TEST(Fit, CallbacksRunInOrderWithState) {
  Toy data(20);
  auto net = toy_net();
  optim::SGD opt(net->parameters(), 0.1);
  data::DataLoader loader(data.x, data.y, 12, true, 0);  // batches of 12 and 8
  auto shared = std::make_shared<std::vector<std::string>>();
  auto a = std::make_shared<Recorder>("a");
  auto b = std::make_shared<Recorder>("b");
  struct Stop : train::Callback {
    void on_epoch_end(train::FitState& s, const train::Logs&) override {
      if (s.epoch == 2) s.stop_training = true;
    }
  };
  train::History h = train::fit(
      *net, train::cross_entropy_loss, opt, loader,
      {.epochs = 5, .initial_epoch = 1, .callbacks = {a, b, std::make_shared<Stop>()},
       .progress = train::Progress::none, .log_every = 2});
  EXPECT_EQ(h.epochs.size(), 2u);  // epochs 1 and 2; Stop ended fit after epoch 2
  const std::vector<std::string> expected = {
      "a:train_begin@1", "a:epoch_begin1", "a:batch_begin0",
      "a:batch_end0 step 3 seen 12",  // resumed at epoch 1: 2 steps per epoch before
      "a:batch_begin1", "a:batch_end1 step 4 seen 20 logged", "a:epoch_end1 history 1 loss yes",
      "a:epoch_begin2", "a:batch_begin0", "a:batch_end0 step 5 seen 12", "a:batch_begin1",
      "a:batch_end1 step 6 seen 20 logged", "a:epoch_end2 history 2 loss yes", "a:train_end"};
  EXPECT_EQ(a->events, expected);
  // b sees every event right after a (same list with its tag).
  ASSERT_EQ(b->events.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(b->events[i], "b" + expected[i].substr(1));
}

TEST(Fit, KeepGradientsEagerEqualsGraph) {
  std::vector<std::vector<float>> grads[2];
  for (int m = 0; m < 2; ++m) {
    Toy data(16);
    auto net = toy_net();
    optim::SGD opt(net->parameters(), 0.1);
    data::DataLoader loader(data.x, data.y, 16, false);
    struct Grab : train::Callback {
      std::vector<std::vector<float>>* out;
      void on_batch_end(train::FitState& s, const train::Logs&) override {
        for (const Tensor& g : s.gradients()) out->push_back(g.to_vector<float>());
      }
    };
    auto grab = std::make_shared<Grab>();
    grab->out = &grads[m];
    train::fit(*net, train::cross_entropy_loss, opt, loader,
               {.mode = m ? train::Execution::graph : train::Execution::eager,
                .callbacks = {grab}, .keep_gradients = true, .bit_exact = true,
                .progress = train::Progress::none});
  }
  ASSERT_EQ(grads[0].size(), 4u);  // 2 weights and 2 biases, one step
  EXPECT_EQ(grads[0], grads[1]);
}

TEST(Evaluate, EagerEqualsGraphAndLeavesTrainMode) {
  Toy data(30);
  auto net = toy_net();
  data::DataLoader loader(data.x, data.y, 8, false);
  auto acc = std::make_shared<train::Accuracy>();
  train::Logs e = train::evaluate(*net, train::cross_entropy_loss, loader, {.metrics = {acc}});
  train::Logs g = train::evaluate(*net, train::cross_entropy_loss, loader,
                                  {.mode = train::Execution::graph, .metrics = {acc},
                                   .bit_exact = true});
  EXPECT_EQ(e.at("loss"), g.at("loss"));
  EXPECT_EQ(e.at("accuracy"), g.at("accuracy"));
  EXPECT_TRUE(net->is_training());
  // The loss is the mean over the 30 samples.
  NoGradGuard no_grad;
  const double whole = cross_entropy((*net)(data.x), data.y).item<double>();
  EXPECT_NEAR(e.at("loss"), whole, 1e-6);
  const double hits = sum(eq(argmax((*net)(data.x), 1), data.y).to(int64)).item<double>();
  EXPECT_DOUBLE_EQ(e.at("accuracy"), hits / 30.0);
}

TEST(Fit, ProgressLinesAndBar) {
  Toy data(20);
  auto net = toy_net();
  optim::SGD opt(net->parameters(), 0.1);
  data::DataLoader loader(data.x, data.y, 8, true, 0);
  std::ostringstream lines, bar;
  train::fit(*net, train::cross_entropy_loss, opt, loader,
             {.epochs = 2, .progress = train::Progress::lines, .progress_stream = &lines});
  EXPECT_EQ(count(lines.str(), "\n"), 2) << lines.str();
  EXPECT_EQ(count(lines.str(), "\r"), 0);
  EXPECT_NE(lines.str().find("epoch 2/2 - 3/3 - "), std::string::npos) << lines.str();
  EXPECT_NE(lines.str().find("img/s - loss "), std::string::npos) << lines.str();
  train::fit(*net, train::cross_entropy_loss, opt, loader,
             {.epochs = 1, .progress = train::Progress::bar, .progress_stream = &bar});
  EXPECT_GE(count(bar.str(), "\r"), 2) << bar.str();  // the live line, then the epoch line
  EXPECT_NE(bar.str().find("3/3 ["), std::string::npos) << bar.str();
}

TEST(Fit, BadOptionsAreErrors) {
  Toy data(8);
  auto net = toy_net();
  optim::SGD opt(net->parameters(), 0.1);
  data::DataLoader loader(data.x, data.y, 8, false);
  EXPECT_DUET_ERROR(train::fit(*net, train::cross_entropy_loss, opt, loader,
                               {.epochs = 1, .initial_epoch = 2}),
                    "fit: initial_epoch = 2, epochs = 1");
  EXPECT_DUET_ERROR(train::fit(*net, train::cross_entropy_loss, opt, loader, {.log_every = 0}),
                    "log_every = 0");
  auto sum_loss = [](const Tensor& out, const Tensor&) { return sum(out, {1}); };
  EXPECT_DUET_ERROR(train::fit(*net, sum_loss, opt, loader, {.progress = train::Progress::none}),
                    "fit: the loss function returned shape (8,)");
  // (no process group in this program)
  EXPECT_DUET_ERROR(train::fit(*net, train::cross_entropy_loss, opt, loader,
                               {.progress = train::Progress::none, .distributed = true}),
                    "fit: distributed = true but there is no process group",
                    "duet::distributed::init()");
  EXPECT_DUET_ERROR(train::evaluate(*net, train::cross_entropy_loss, loader, {.distributed = true}),
                    "evaluate: distributed = true but there is no process group");
}

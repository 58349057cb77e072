// fit()'s cost per training step against the hand-written loop (docs/guide.md, "Training
// with fit"): the same model, optimizer, data and seed; eager and graph. Each benchmark
// iteration trains one epoch of kSteps batches and times steps kWarmup..kSteps-1 only (the
// graph compilation and first-touch allocations of the first steps are left out): manual
// time, items = timed steps, so "items_per_second" is steps/s and the time column is per
// epoch of kSteps - kWarmup steps.
//
//   build-A/bench/bench_fit_overhead --benchmark_repetitions=7
//       --benchmark_report_aggregates_only=true
//
// The hand loop reads the loss on the host each step (loss.item(), as a loop that reports
// its loss does); fit runs with no metrics and Progress::none, so the difference is fit's own
// bookkeeping: callbacks, the loss Mean on the device, logs, batch moves. One CPU thread for
// kernels (set_num_threads(1)) so the numbers move less on a shared machine; compare medians.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>

#include "duet/data/dataloader.h"
#include "duet/jit.h"
#include "duet/models/fashion_cnn.h"
#include "duet/nn.h"
#include "duet/ops.h"
#include "duet/optim.h"
#include "duet/threads.h"
#include "duet/train/fit.h"

namespace {

using duet::Tensor;
using Clock = std::chrono::steady_clock;

constexpr int64_t kSteps = 60, kWarmup = 10;

struct Setup {
  std::shared_ptr<duet::nn::Module> net;
  Tensor x, y;
  int64_t batch;
};

// "mlp": 64 -> 128 -> 10 at batch 32 (a step of tens of microseconds: fixed costs show);
// "cnn": the FashionCNN at batch 32.
Setup make(bool cnn) {
  duet::set_num_threads(1);
  duet::Generator gen(0);
  Setup s;
  s.batch = 32;
  if (cnn) {
    s.net = duet::models::fashion_cnn(gen, /*dropout=*/0.0);
    s.x = Tensor::randn({kSteps * s.batch, 1, 28, 28}, gen);
  } else {
    s.net = std::make_shared<duet::nn::Sequential>(std::vector<std::shared_ptr<duet::nn::Module>>{
        std::make_shared<duet::nn::Linear>(64, 128, true, gen), std::make_shared<duet::nn::ReLU>(),
        std::make_shared<duet::nn::Linear>(128, 10, true, gen)});
    s.x = Tensor::randn({kSteps * s.batch, 64}, gen);
  }
  s.y = duet::argmax(Tensor::randn({kSteps * s.batch, 10}, gen), 1);
  return s;
}

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Times steps kWarmup.. of each fit epoch.
struct StepTimer : duet::train::Callback {
  Clock::time_point start, end;
  void on_batch_end(duet::train::FitState& s, const duet::train::Logs&) override {
    if (s.batch + 1 == kWarmup) start = Clock::now();
    if (s.batch + 1 == kSteps) end = Clock::now();
  }
};

void BM_Fit(benchmark::State& state) {
  const bool cnn = state.range(0) != 0, graph = state.range(1) != 0;
  Setup s = make(cnn);
  duet::optim::SGD opt(s.net->parameters(), 0.01, 0.9);
  duet::data::DataLoader loader(s.x, s.y, s.batch, true, 0);
  auto timer = std::make_shared<StepTimer>();
  for (auto _ : state) {
    duet::train::fit(*s.net, duet::train::cross_entropy_loss, opt, loader,
                     {.epochs = 1,
                      .mode = graph ? duet::train::Execution::graph : duet::train::Execution::eager,
                      .callbacks = {timer},
                      .progress = duet::train::Progress::none});
    state.SetIterationTime(seconds(timer->start, timer->end));
  }
  state.SetItemsProcessed(state.iterations() * (kSteps - kWarmup));
}

void BM_HandLoop(benchmark::State& state) {
  const bool cnn = state.range(0) != 0, graph = state.range(1) != 0;
  Setup s = make(cnn);
  duet::optim::SGD opt(s.net->parameters(), 0.01, 0.9);
  duet::data::DataLoader loader(s.x, s.y, s.batch, true, 0);
  duet::nn::Module& net = *s.net;
  for (auto _ : state) {
    // A fresh compiled step per epoch, as fit makes one per call.
    duet::JitFunction step = duet::jit(
        [&](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{duet::cross_entropy(net(in[0]), in[1])};
        },
        {.training = true, .optimizer = &opt}, "train_step");
    Clock::time_point start, end;
    double loss_sum = 0;
    int64_t i = 0;
    for (auto& b : loader) {
      if (graph) {
        loss_sum += step({b.x, b.y})[0].item();
      } else {
        opt.zero_grad();
        Tensor loss = duet::cross_entropy(net(b.x), b.y);
        loss.backward();
        opt.step();
        loss_sum += loss.item();
      }
      if (++i == kWarmup) start = Clock::now();
      if (i == kSteps) end = Clock::now();
    }
    benchmark::DoNotOptimize(loss_sum);
    state.SetIterationTime(seconds(start, end));
  }
  state.SetItemsProcessed(state.iterations() * (kSteps - kWarmup));
}

// Args: {cnn, graph}
BENCHMARK(BM_HandLoop)->ArgNames({"cnn", "graph"})->ArgsProduct({{0, 1}, {0, 1}})->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fit)->ArgNames({"cnn", "graph"})->ArgsProduct({{0, 1}, {0, 1}})->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

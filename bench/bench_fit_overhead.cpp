// fit()'s cost per training step against the hand-written loop (docs/guide.md, "Training
// with fit"): the same model, optimizer, data and seed; eager and graph. Each benchmark
// iteration trains one epoch of kSteps batches and times steps kWarmup..kSteps-1 only (the
// graph compilation and first-touch allocations of the first steps are left out). A hand
// epoch and a fit epoch run back to back in each iteration, so both see the same load on a
// shared machine; the "ratio" counter is fit's time per step over the hand loop's (the median
// of the iterations' ratios; 1.00 = no overhead).
//
//   build-A/bench/bench_fit_overhead --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true      (read the medians' ratio, hand_us, fit_us)
//
// The hand loop reads the loss on the host each step (loss.item(), as a loop that reports
// its loss does); fit runs with no metrics and Progress::none, so the difference is fit's own
// bookkeeping: callbacks, the loss Mean on the device, logs, batch moves. One CPU thread for
// kernels (set_num_threads(1)) so the numbers move less on a shared machine; compare medians.
#include <benchmark/benchmark.h>

#include <algorithm>
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

constexpr int64_t kSteps = 40, kWarmup = 5;

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

// One epoch with fit; seconds of the timed steps.
double fit_epoch(Setup& s, duet::optim::Optimizer& opt, duet::data::DataLoader& loader,
                 bool graph) {
  auto timer = std::make_shared<StepTimer>();
  duet::train::fit(*s.net, duet::train::cross_entropy_loss, opt, loader,
                   {.epochs = 1,
                    .mode = graph ? duet::train::Execution::graph : duet::train::Execution::eager,
                    .callbacks = {timer},
                    .progress = duet::train::Progress::none});
  return seconds(timer->start, timer->end);
}

// One epoch by hand (the guide's loop; graph: a jit step made per epoch, as fit makes one per
// call); seconds of the timed steps.
double hand_epoch(Setup& s, duet::optim::Optimizer& opt, duet::data::DataLoader& loader,
                  bool graph) {
  duet::nn::Module& net = *s.net;
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
  return seconds(start, end);
}

// Each iteration: one hand epoch and one fit epoch, back to back (the order alternates), so
// both see the same machine load. Time: the fit epoch's timed steps. Counters: hand_us and
// fit_us per step (means), ratio = fit / hand (the median of the iterations' ratios).
void BM_FitVsHand(benchmark::State& state) {
  const bool cnn = state.range(0) != 0, graph = state.range(1) != 0;
  Setup s = make(cnn);
  duet::optim::SGD opt(s.net->parameters(), 0.01, 0.9);
  duet::data::DataLoader loader(s.x, s.y, s.batch, true, 0);
  std::vector<double> ratios;
  double hand_total = 0, fit_total = 0;
  int64_t n = 0;
  for (auto _ : state) {
    double h = 0, f = 0;
    if (n % 2 == 0) {
      h = hand_epoch(s, opt, loader, graph);
      f = fit_epoch(s, opt, loader, graph);
    } else {
      f = fit_epoch(s, opt, loader, graph);
      h = hand_epoch(s, opt, loader, graph);
    }
    ++n;
    hand_total += h;
    fit_total += f;
    ratios.push_back(f / h);
    state.SetIterationTime(f);
  }
  std::sort(ratios.begin(), ratios.end());
  const double steps = static_cast<double>(n * (kSteps - kWarmup));
  state.counters["hand_us"] = hand_total / steps * 1e6;
  state.counters["fit_us"] = fit_total / steps * 1e6;
  state.counters["ratio"] = ratios.empty() ? 0.0 : ratios[ratios.size() / 2];
  state.SetItemsProcessed(state.iterations() * (kSteps - kWarmup));
}

// Args: {cnn, graph}
BENCHMARK(BM_FitVsHand)
    ->ArgNames({"cnn", "graph"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// The profiler's cost (duet/profiler.h): op-call throughput for a small op (add on 16
// float32 elements) and the time of a FashionCNN training step (batch 32, eager and graph),
// with no Profile recording ("off") and with one recording ("on"). Built twice, it also
// measures what the hooks cost when compiled in but off, against a library built without
// them (-DDUET_PROFILER_HOOKS=0: every hook is `if (false)`, the code before the profiler):
//
//   cmake -S . -B build-C        ... -DDUET_BUILD_BENCH=ON
//   cmake -S . -B build-C-nohooks ... -DDUET_BUILD_BENCH=ON -DCMAKE_CXX_FLAGS=-DDUET_PROFILER_HOOKS=0
//   for b in build-C build-C-nohooks; do
//     $b/bench/bench_profiler_overhead --benchmark_repetitions=7
//       --benchmark_report_aggregates_only=true --benchmark_filter='Off'   (one line)
//   done
//
// One CPU thread for kernels (set_num_threads(1)) so the numbers move less on a shared
// machine; compare medians.
#include <benchmark/benchmark.h>

#include <memory>

#include "duet/duet.h"
#include "duet/graph.h"
#include "duet/models/fashion_cnn.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/profiler.h"

namespace {

using duet::Tensor;

// A Profile restarted every kRestart iterations (outside the timed region) so the recorded
// events stay within the cap and memory stays bounded; "on" pays recording, not dropping.
constexpr int64_t kRestart = 20000;

template <class Body>
void run(benchmark::State& state, bool on, Body&& body) {
  std::unique_ptr<duet::profiler::Profile> p;
  if (on) p = std::make_unique<duet::profiler::Profile>();
  int64_t n = 0;
  for (auto _ : state) {
    body();
    if (on && ++n % kRestart == 0) {
      state.PauseTiming();
      p.reset();
      p = std::make_unique<duet::profiler::Profile>();
      state.ResumeTiming();
    }
  }
  p.reset();
  state.SetItemsProcessed(state.iterations());
}

void add16(benchmark::State& state, bool on) {
  duet::set_num_threads(1);
  Tensor a = Tensor::ones({16}), b = Tensor::ones({16});
  run(state, on, [&] { benchmark::DoNotOptimize(duet::add(a, b)); });
}
void BM_Add16_Off(benchmark::State& s) {
  add16(s, false);
}
void BM_Add16_On(benchmark::State& s) {
  add16(s, true);
}

struct CnnStep {
  duet::Generator gen{0};
  std::shared_ptr<duet::nn::Sequential> net = duet::models::fashion_cnn(gen);
  std::unique_ptr<duet::optim::SGD> opt;
  Tensor x = Tensor::randn({32, 1, 28, 28}, gen);
  Tensor y = Tensor::from_vector(std::vector<int64_t>(32, 3), {32});
  CnnStep() { opt = std::make_unique<duet::optim::SGD>(net->parameters(), 0.01, 0.9); }
  void eager() {
    opt->zero_grad();
    Tensor loss = duet::cross_entropy((*net)(x), y);
    loss.backward();
    opt->step();
  }
};

void cnn_eager(benchmark::State& state, bool on) {
  duet::set_num_threads(1);
  CnnStep s;
  s.net->train();
  s.eager();  // warm the allocator's cache
  run(state, on, [&] { s.eager(); });
}
void BM_FashionCnnStepEager_Off(benchmark::State& s) {
  cnn_eager(s, false);
}
void BM_FashionCnnStepEager_On(benchmark::State& s) {
  cnn_eager(s, true);
}

void cnn_graph(benchmark::State& state, bool on) {
  duet::set_num_threads(1);
  CnnStep s;
  duet::Graph g({.training = true});
  Tensor xi = g.input("x", {32, 1, 28, 28});
  Tensor yi = g.input("y", {32}, duet::int64);
  Tensor loss = duet::cross_entropy((*s.net)(xi), yi);
  duet::CompileOptions opts;
  opts.training = true;
  opts.optimizer = s.opt.get();
  duet::Executable step = duet::compile(g, {loss}, opts);
  step.run({{"x", s.x}, {"y", s.y}});
  run(state, on, [&] { step.run({{"x", s.x}, {"y", s.y}}); });
}
void BM_FashionCnnStepGraph_Off(benchmark::State& s) {
  cnn_graph(s, false);
}
void BM_FashionCnnStepGraph_On(benchmark::State& s) {
  cnn_graph(s, true);
}

BENCHMARK(BM_Add16_Off)->MinTime(0.5);
BENCHMARK(BM_Add16_On)->MinTime(0.5);
BENCHMARK(BM_FashionCnnStepEager_Off)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_FashionCnnStepEager_On)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_FashionCnnStepGraph_Off)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_FashionCnnStepGraph_On)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();

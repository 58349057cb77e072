// The timing loop of the Google Benchmark programs that report their own counters
// (bench_cpu_ops, bench_nchwc_dw_stem, bench_nchwc_reorder_pool).
//
//   const bench::Timing t = bench::time_iterations(state, [&] { run_kernel(); });
//   state.counters["GB/s"] = bytes * t.iterations / t.seconds / 1e9;
//   state.counters["best_us"] = t.fastest * 1e6;
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctime>

namespace duet::bench {

// CPU time of the whole process (all threads), seconds.
inline double process_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Timing {
  double seconds = 0;      // wall time of all iterations
  double fastest = 1e30;   // the fastest iteration's wall time
  double iterations = 0;   // state.iterations()
  double cpu_seconds = 0;  // the process's CPU time over the iterations (every thread)
};

// Runs `body` once untimed (scratch buffers, page faults), then once per benchmark iteration,
// each timed on the wall clock.
template <class F>
Timing time_iterations(benchmark::State& state, F&& body) {
  body();
  Timing t;
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    body();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t.seconds += dt;
    t.fastest = std::min(t.fastest, dt);
  }
  t.cpu_seconds = process_cpu_seconds() - cpu0;
  t.iterations = static_cast<double>(state.iterations());
  return t;
}

}  // namespace duet::bench

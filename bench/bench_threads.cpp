// duet's thread pool (src/core/threads.cpp) against OpenMP (libgomp) at the same thread count:
//
//   bench_threads [--threads 2] [--reps 20000] [--steps 200] [--loops 50] [--rounds 5]
//                 [--only duet|omp]
//   OMP_WAIT_POLICY=passive bench_threads        # libgomp reads its policy at start-up
//
// 1. fork/join: an empty parallel loop over 2 * threads items, back to back (duet's
//    parallel_for against `#pragma omp parallel for`);
// 2. batch-1 step: `loops` parallel loops of 10-50 us of work each (the shape of a ResNet-18
//    1x224 inference step's convolutions at 2 threads), back to back;
// 3. the same step after a 1 ms pause (the workers of both have gone to sleep: each step's
//    first loop pays the wake-up);
// 4. the same step with 2 us of serial work between loops (eager mode's dispatch).
// Rounds alternate duet and OpenMP, with a 20 ms pause between them so that neither runtime's
// spinning workers steal the other's time; --only runs one of them (alternate processes then:
// libgomp's workers may spin for milliseconds after a loop, on a loaded machine even longer).
// Prints the median and the minimum over all rounds of each round's median, and the serial
// (1-thread) time of the step's work.
//
// Built with -fopenmp for this program only (bench/CMakeLists.txt); libduet stays OpenMP-free.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/cli.h"
#include "core/parallel.h"
#include "duet/threads.h"

namespace {

using clock_type = std::chrono::steady_clock;

double now_us() {
  return std::chrono::duration<double, std::micro>(clock_type::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One unit of work: a dependent chain of multiply-adds (no memory traffic), `iters` long.
// The result goes to `sink` so that the compiler keeps it.
volatile float g_sink = 0;
inline void unit(int64_t iters, float* sink) {
  float a = 1.0f + static_cast<float>(iters & 7) * 1e-7f, b = 0.5f, c = 0.25f, d = 0.125f;
  for (int64_t i = 0; i < iters; ++i) {
    a = a * 0.9999999f + 1e-7f;
    b = b * 0.9999999f + 1e-7f;
    c = c * 0.9999999f + 1e-7f;
    d = d * 0.9999999f + 1e-7f;
  }
  *sink += a + b + c + d;
}

// Iterations of `unit` that take about `us` microseconds on one thread.
int64_t calibrate(double us) {
  float sink = 0;
  int64_t iters = 1000;
  for (;;) {
    std::vector<double> t;
    for (int r = 0; r < 21; ++r) {
      const double t0 = now_us();
      unit(iters, &sink);
      t.push_back(now_us() - t0);
    }
    const double m = median(t);
    if (m > 200) {
      g_sink = sink;
      return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iters) * us / m));
    }
    iters *= 4;
  }
}

// A parallel loop: `units` units of `iters` each, split over the threads.
struct Loop {
  int64_t units = 16;
  int64_t iters = 0;
};

// Units of duet's steps that a pool worker (not the calling thread) ran, and all of them.
std::atomic<int64_t> g_worker_units{0}, g_all_units{0};

void run_duet(const Loop& l) {
  float sinks[64] = {};
  duet::parallel::parallel_for(0, l.units, 1, [&](int64_t lo, int64_t hi) {
    float s = 0;
    for (int64_t u = lo; u < hi; ++u) unit(l.iters, &s);
    sinks[lo % 64] += s;
    if (duet::parallel::thread_index() != 0) g_worker_units.fetch_add(hi - lo);
    g_all_units.fetch_add(hi - lo);
  });
  g_sink = sinks[0];
}

void run_omp(const Loop& l) {
  float sinks[64] = {};
#pragma omp parallel for schedule(static)
  for (int64_t u = 0; u < l.units; ++u) {
    float s = 0;
    unit(l.iters, &s);
    sinks[u % 64] += s;
  }
  g_sink = sinks[0];
}

void run_serial(const Loop& l) {
  float s = 0;
  for (int64_t u = 0; u < l.units; ++u) unit(l.iters, &s);
  g_sink = s;
}

void empty_duet(int64_t n) {
  duet::parallel::parallel_for(0, n, 1, [](int64_t, int64_t) {});
}

void empty_omp(int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) g_sink = 0;
}

struct Stat {
  std::vector<double> medians;  // one per round
  void add(std::vector<double> t) { medians.push_back(median(std::move(t))); }
  double med() const { return median(medians); }  // 0 when not measured (--only)
  double min() const {
    return medians.empty() ? 0 : *std::min_element(medians.begin(), medians.end());
  }
};

void pause_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage =
      "usage: bench_threads [--threads 2] [--reps 20000] [--steps 200] [--loops 50] "
      "[--rounds 5] [--only duet|omp]\n";
  duet::examples::Cli cli(argc, argv, "bench_threads", usage);
  if (cli.help()) {
    std::printf("%s", usage);
    return 0;
  }
  const int threads = static_cast<int>(cli.get_int("--threads", 2));
  const int64_t reps = cli.get_int("--reps", 20000);
  const int64_t steps = cli.get_int("--steps", 200);
  const int64_t loops = cli.get_int("--loops", 50);
  const int64_t rounds = cli.get_int("--rounds", 5);
  const std::string only = cli.get("--only", "");
  cli.finish();
  const bool do_duet = only != "omp", do_omp = only != "duet";
  duet::set_num_threads(threads);
  omp_set_num_threads(threads);
  omp_set_dynamic(0);
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("DUET_THREAD_SPIN_US");
  std::printf("threads %d, OMP_WAIT_POLICY=%s, DUET_THREAD_SPIN_US=%s, %lld rounds\n", threads,
              policy ? policy : "(unset)", spin ? spin : "(unset: 200)",
              static_cast<long long>(rounds));

  // The step: `loops` loops of 10..50 us of work (serial time), 16 units each (8 per thread at
  // 2 threads, the granularity of a conv's output rows), cycling through 5 sizes.
  const int64_t per_us = calibrate(1.0);
  std::vector<Loop> step;
  const double sizes_us[] = {10, 20, 30, 40, 50};
  double serial_work_us = 0;
  for (int64_t i = 0; i < loops; ++i) {
    const double us = sizes_us[i % 5];
    step.push_back({16, std::max<int64_t>(1, static_cast<int64_t>(us * per_us / 16))});
    serial_work_us += us;
  }
  const int64_t gap_iters = std::max<int64_t>(1, 2 * per_us);  // 2 us of serial work

  using Fn = std::function<void(const Loop&)>;
  auto time_step = [&](const Fn& f, int64_t n, int gap, int64_t serial_gap) {
    std::vector<double> t;
    float s = 0;
    for (int64_t k = 0; k < n; ++k) {
      if (gap) pause_ms(gap);
      const double t0 = now_us();
      for (const Loop& l : step) {
        f(l);
        if (serial_gap) unit(serial_gap, &s);
      }
      t.push_back(now_us() - t0);
    }
    g_sink = s;
    return t;
  };
  auto time_empty = [&](void (*f)(int64_t)) {
    std::vector<double> t;  // per call, in batches of 100 calls
    for (int64_t k = 0; k < reps / 100; ++k) {
      const double t0 = now_us();
      for (int i = 0; i < 100; ++i) f(2 * threads);
      t.push_back((now_us() - t0) / 100);
    }
    return t;
  };

  Stat fj_duet, fj_omp, st_duet, st_omp, st_serial, sl_duet, sl_omp, gp_duet, gp_omp, gp_serial;
  for (int64_t r = 0; r < rounds; ++r) {
    // Warm both runtimes' threads up, then measure; the 20 ms pauses let the other one's
    // workers fall asleep first.
    if (do_duet) {
      pause_ms(20);
      empty_duet(2 * threads);
      fj_duet.add(time_empty(empty_duet));
      st_duet.add(time_step(run_duet, steps, 0, 0));
      gp_duet.add(time_step(run_duet, steps, 0, gap_iters));
      sl_duet.add(time_step(run_duet, std::max<int64_t>(steps / 4, 10), 1, 0));
    }
    if (do_omp) {
      pause_ms(20);
      empty_omp(2 * threads);
      fj_omp.add(time_empty(empty_omp));
      st_omp.add(time_step(run_omp, steps, 0, 0));
      gp_omp.add(time_step(run_omp, steps, 0, gap_iters));
      sl_omp.add(time_step(run_omp, std::max<int64_t>(steps / 4, 10), 1, 0));
    }
    pause_ms(20);
    st_serial.add(time_step(run_serial, std::max<int64_t>(steps / 10, 5), 0, 0));
    gp_serial.add(time_step(run_serial, std::max<int64_t>(steps / 10, 5), 0, gap_iters));
  }
  auto row = [](const char* what, const Stat& d, const Stat& o) {
    std::printf("%-44s %10.2f %10.2f %10.2f %10.2f %7.2fx\n", what, d.med(), d.min(), o.med(),
                o.min(), o.med() > 0 ? d.med() / o.med() : 0.0);
  };
  std::printf("%-44s %10s %10s %10s %10s %8s\n", "us (median / min of round medians)", "duet med",
              "duet min", "omp med", "omp min", "duet/omp");
  row("fork/join, empty loop", fj_duet, fj_omp);
  char what[96];
  std::snprintf(what, sizeof what, "step: %lld loops of 10-50 us, back to back",
                static_cast<long long>(loops));
  row(what, st_duet, st_omp);
  row("  the same, 2 us serial work between loops", gp_duet, gp_omp);
  row("  the same, after a 1 ms pause", sl_duet, sl_omp);
  std::printf(
      "serial work of one step: %.0f us nominal, %.1f us measured (1 thread); "
      "with the gaps %.1f us\n",
      serial_work_us, st_serial.med(), gp_serial.med());
  if (do_duet)
    std::printf("duet: pool workers ran %.1f%% of the steps' work\n",
                100.0 * static_cast<double>(g_worker_units.load()) /
                    static_cast<double>(std::max<int64_t>(1, g_all_units.load())));
  std::printf(
      "per-loop overhead at %d threads (median step - serial / threads) / loops: "
      "duet %.2f us, omp %.2f us\n",
      threads, (st_duet.med() - st_serial.med() / threads) / static_cast<double>(loops),
      (st_omp.med() - st_serial.med() / threads) / static_cast<double>(loops));
  return 0;
}

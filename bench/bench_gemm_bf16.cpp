// cpu_kernels::gemm_bf16 (kernels/cpu/gemm_lowp.h) on each of its paths (plain C++, AVX-512
// BF16, AMX; those this CPU has) against the float32 GEMM (cpu_kernels::gemm<float>: the packed
// AVX-512 sgemm) on the same shape and threads: convolution-like products (m = output channels,
// k = Cin kh kw, n = spatial x batch; c = w @ im2col(x)) and square ones.
//
//   ./bench_gemm_bf16                        # 2 threads (--threads=N to change)
//   ./bench_gemm_bf16 --threads=1 --benchmark_filter='sq_2048'
//
// Counters: GFLOP/s (2 m n k flops per product, mean over the iterations), best_GFLOP/s (the
// fastest iteration: on a shared machine the figure closest to the unloaded speed) and
// x_fp32 (best_GFLOP/s over the float32 GEMM's best_GFLOP/s on the same shape, when the fp32
// case ran in the same run; cases run in order, fp32 first).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "bench_timing.h"
#include "cpu/gemm.h"
#include "cpu/gemm_lowp.h"
#include "duet/duet.h"
#include "duet/simd.h"

namespace {

using namespace duet;

struct GemmShape {
  std::string name;
  int64_t m, n, k;
};

const std::vector<GemmShape>& shapes() {
  static const std::vector<GemmShape> r = {
      // ResNet-50-like convolutions at batch 8 (224x224): m Cout, k Cin*kh*kw, n H*W*batch.
      {"conv1x1_64_64_56x56_b8", 64, 25088, 64},
      {"conv3x3_64_64_56x56_b8", 64, 25088, 576},
      {"conv3x3_128_128_28x28_b8", 128, 6272, 1152},
      {"conv3x3_256_256_14x14_b8", 256, 1568, 2304},
      {"conv1x1_1024_256_14x14_b8", 1024, 1568, 256},
      {"conv3x3_512_512_7x7_b4", 512, 196, 4608},
      {"conv1x1_2048_512_7x7_b8", 2048, 392, 512},
      // square
      {"sq_512", 512, 512, 512},
      {"sq_1024", 1024, 1024, 1024},
      {"sq_2048", 2048, 2048, 2048},
  };
  return r;
}

std::map<std::string, double> g_fp32_best;  // shape -> the float32 GEMM's best GFLOP/s

// path < 0: the float32 GEMM; else a simd::Bf16Path.
void bench_gemm(benchmark::State& state, const GemmShape& s, int path) {
  std::vector<float> af(s.m * s.k), bf(s.k * s.n), c(s.m * s.n);
  std::vector<BFloat16> ab(af.size()), bb(bf.size());
  uint32_t x = 1;
  auto rnd = [&] {
    x = x * 1664525u + 1013904223u;
    return static_cast<float>(x >> 8) / static_cast<float>(1 << 23) - 1.f;
  };
  for (size_t i = 0; i < af.size(); ++i) ab[i] = af[i] = BFloat16(rnd());
  for (size_t i = 0; i < bf.size(); ++i) bb[i] = bf[i] = BFloat16(rnd());
  if (path >= 0) simd::set_bf16_path(static_cast<simd::Bf16Path>(path));
  const bench::Timing t = bench::time_iterations(state, [&] {
    if (path < 0)
      cpu_kernels::gemm<float>(false, false, s.m, s.n, s.k, 1.f, af.data(), s.k, bf.data(), s.n,
                               0.f, c.data(), s.n);
    else
      cpu_kernels::gemm_bf16(false, false, s.m, s.n, s.k, 1.f, ab.data(), s.k, bb.data(), s.n, 0.f,
                             c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
  });
  simd::reset_bf16_path();
  const double flops = 2.0 * static_cast<double>(s.m * s.n * s.k);
  const double best = flops / t.fastest / 1e9;
  state.counters["GFLOP/s"] = flops * t.iterations / t.seconds / 1e9;
  state.counters["best_GFLOP/s"] = best;
  if (path < 0) {
    g_fp32_best[s.name] = best;
  } else if (auto it = g_fp32_best.find(s.name); it != g_fp32_best.end()) {
    state.counters["x_fp32"] = best / it->second;
  }
}

void register_all() {
  const int best = static_cast<int>(simd::best_bf16_path());
  for (const GemmShape& s : shapes())
    for (int path = -1; path <= best; ++path) {
      const std::string name =
          s.name + "/" +
          (path < 0 ? "fp32" : simd::bf16_path_name(static_cast<simd::Bf16Path>(path)));
      benchmark::RegisterBenchmark(name.c_str(),
                                   [s, path](benchmark::State& st) { bench_gemm(st, s, path); })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--threads=", 10) == 0) threads = std::atoi(argv[i] + 10);
  duet::set_num_threads(threads);
  benchmark::Initialize(&argc, argv);
  std::printf("threads: %d; bfloat16 paths up to %s (default %s)\n", duet::num_threads(),
              duet::simd::bf16_path_name(duet::simd::best_bf16_path()),
              duet::simd::bf16_path_name(duet::simd::bf16_path()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// CPU op benchmarks: conv2d (forward and both backward ops) on ResNet-18 layer shapes, the
// blocked inference conv (conv2d_nchwc) on those and ResNet-50's 1x1 shapes, matmul,
// linear and batch_norm, at batch 8 on 2 threads. Before the benchmarks run, the machine's
// fp32 peak is measured with an FMA loop on 2 threads; each benchmark reports GFLOP/s and its
// fraction of that peak.
//
//   ./bench_cpu_ops                                   # everything
//   ./bench_cpu_ops --benchmark_filter='Conv2dForward'
//   ./bench_cpu_ops --benchmark_filter='Conv2d(Forward|Nchwc)/'   # im2col conv vs blocked
//
// GFLOP/s counts 2 flops per multiply-add of the mathematical op (a conv: 2 N O OH OW Cg KH KW),
// measured on wall-clock time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif
#if __has_include(<eigen3/Eigen/Core>)
#include <eigen3/Eigen/Core>
#define DUET_BENCH_HAS_EIGEN 1
#endif

#include "bench_timing.h"
#include "duet/duet.h"
#include "ops/op_def.h"  // conv2d_nchwc: an op only graphs emit (no public function)

namespace {

constexpr int kThreads = 2;
double g_peak_gflops = 0;       // measured fp32 peak on kThreads threads
double g_core_peak_gflops = 0;  // one core's fp32 peak per second of its CPU time

// ---------------------------------------------------------------------------------------
// fp32 peak: every thread runs 12 independent FMA chains on full-width vectors (enough to
// cover FMA latency x 2 pipes); the asm barrier keeps the compiler from folding the chains.

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec vset(float v) {
  return _mm512_set1_ps(v);
}
inline Vec vfma(Vec a, Vec b, Vec c) {
  return _mm512_fmadd_ps(a, b, c);
}
inline float vsum(Vec v) {
  return _mm512_reduce_add_ps(v);
}
const char* kIsa = "AVX-512 FMA";
#elif defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec vset(float v) {
  return _mm256_set1_ps(v);
}
inline Vec vfma(Vec a, Vec b, Vec c) {
  return _mm256_fmadd_ps(a, b, c);
}
inline float vsum(Vec v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  float s = 0;
  for (float x : t) s += x;
  return s;
}
const char* kIsa = "AVX2 FMA";
#else
struct Vec {
  float v[8];
};
constexpr int kLanes = 8;
inline Vec vset(float x) {
  Vec r;
  std::fill(r.v, r.v + 8, x);
  return r;
}
inline Vec vfma(Vec a, Vec b, Vec c) {
  for (int i = 0; i < 8; ++i) a.v[i] = a.v[i] * b.v[i] + c.v[i];
  return a;
}
inline float vsum(Vec v) {
  float s = 0;
  for (float x : v.v) s += x;
  return s;
}
const char* kIsa = "portable loop";
#endif

constexpr int kChains = 12;

// Twelve named accumulators (an array would be kept in memory because of the asm barrier).
__attribute__((noinline)) float fma_chains(long iters) {
#define DUET_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DUET_INIT(i) Vec a##i = vset(1.0f + 1e-3f * i);
#define DUET_FMA(i) a##i = vfma(a##i, b, c);
#define DUET_SUM(i) s += vsum(a##i);
  DUET_CHAINS(DUET_INIT)
  const Vec b = vset(0.9999999f), c = vset(1e-7f);
  for (long it = 0; it < iters; ++it) {
    DUET_CHAINS(DUET_FMA)
#if defined(__AVX512F__) || defined(__FMA__)
    __asm__ volatile(""
                     : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),
                       "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
#endif
  }
  float s = 0;
  DUET_CHAINS(DUET_SUM)
  return s;
#undef DUET_CHAINS
#undef DUET_INIT
#undef DUET_FMA
#undef DUET_SUM
}

using duet::bench::process_cpu_seconds;

// One core's peak per second of CPU time (the FMA loop on this thread, timed with its CPU
// clock): the time other processes take the core does not count, so it holds on a loaded
// machine where the wall-clock peak above does not.
double measure_core_peak_gflops() {
  const long iters = 5'000'000;
  double best = 0;
  float sink = 0;
  for (int rep = 0; rep < 9; ++rep) {
    timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    sink += fma_chains(iters);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    const double dt = static_cast<double>(b.tv_sec - a.tv_sec) +
                      1e-9 * static_cast<double>(b.tv_nsec - a.tv_nsec);
    best = std::max(best, iters * kChains * kLanes * 2.0 / dt / 1e9);
  }
  if (sink == 12345.f) std::printf(" ");
  return best;
}

double measure_peak_gflops(int threads) {
  const long iters = 20'000'000;
  double best = 0;
  float sink = 0;
  for (int rep = 0; rep < 9; ++rep) {  // best of 9: other processes may share the cores
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<float> sums(threads);
    std::vector<std::thread> team;
    for (int t = 0; t < threads; ++t) team.emplace_back([&, t] { sums[t] = fma_chains(iters); });
    for (auto& th : team) th.join();
    for (float v : sums) sink += v;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, threads * iters * kChains * kLanes * 2.0 / dt / 1e9);
  }
  if (sink == 12345.f) std::printf(" ");  // keep the result alive
  return best;
}

// ---------------------------------------------------------------------------------------

using namespace duet;

// Runs `body` in the benchmark loop and reports, from wall time, GFLOP/s (mean over the
// iterations), frac_peak, and best_GFLOP/s (fastest iteration: on a machine shared with other
// processes this is the figure closest to the unloaded speed); and cpu_frac_peak: the flops
// per second of the process's CPU time (every thread's, idle spinning included) over one
// core's peak per CPU second, the fraction of peak the threads reached while they ran, which a
// loaded machine does not distort.
template <class F>
void timed(benchmark::State& state, double flops, F&& body) {
  const bench::Timing t = bench::time_iterations(state, body);
  const double seconds = t.seconds, fastest = t.fastest;
  const double gflops = flops * static_cast<double>(state.iterations()) / seconds / 1e9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["frac_peak"] = g_peak_gflops > 0 ? gflops / g_peak_gflops : 0;
  state.counters["best_GFLOP/s"] = flops / fastest / 1e9;
  state.counters["best_frac_peak"] = g_peak_gflops > 0 ? flops / fastest / 1e9 / g_peak_gflops : 0;
  const double cpu = t.cpu_seconds;
  state.counters["cpu_frac_peak"] =
      g_core_peak_gflops > 0 && cpu > 0
          ? flops * static_cast<double>(state.iterations()) / cpu / 1e9 / g_core_peak_gflops
          : 0;
}

struct ConvShape {
  const char* name;
  int64_t c, h, o, k, stride, pad, groups = 1;
};
constexpr int64_t kBatch = 8;
// ResNet-18 (224x224 input) conv layers.
const ConvShape kConvs[] = {
    {"conv1_7x7s2_3to64_224", 3, 224, 64, 7, 2, 3},
    {"layer1_3x3_64to64_56", 64, 56, 64, 3, 1, 1},
    {"layer2_3x3s2_64to128_56", 64, 56, 128, 3, 2, 1},
    {"layer2_3x3_128to128_28", 128, 28, 128, 3, 1, 1},
    {"layer3_3x3s2_128to256_28", 128, 28, 256, 3, 2, 1},
    {"layer3_3x3_256to256_14", 256, 14, 256, 3, 1, 1},
    {"layer4_3x3_512to512_7", 512, 7, 512, 3, 1, 1},
    {"down_1x1s2_64to128_56", 64, 56, 128, 1, 2, 0},
    {"down_1x1s2_256to512_14", 256, 14, 512, 1, 2, 0},
    // not ResNet-18: a depthwise conv (MobileNet style), the direct kernel; memory bound
    {"depthwise_3x3_128_56", 128, 56, 128, 3, 1, 1, 128},
};

struct ConvData {
  Tensor x, w, b, gy;
  Conv2dOptions opts;
  Shape xs, ws;
  double flops;
};

ConvData make_conv(const ConvShape& s) {
  Generator gen(42);
  ConvData d;
  d.opts = {.stride = {s.stride, s.stride}, .padding = {s.pad, s.pad}, .groups = s.groups};
  d.xs = {kBatch, s.c, s.h, s.h};
  d.ws = {s.o, s.c / s.groups, s.k, s.k};
  d.x = Tensor::randn(d.xs, gen);
  d.w = Tensor::randn(d.ws, gen);
  d.b = Tensor::randn({s.o}, gen);
  const int64_t oh = (s.h + 2 * s.pad - s.k) / s.stride + 1;
  d.gy = Tensor::randn({kBatch, s.o, oh, oh}, gen);
  d.flops = 2.0 * kBatch * s.o * oh * oh * (s.c / s.groups) * s.k * s.k;
  return d;
}

void BM_Conv2dForward(benchmark::State& state, ConvShape s) {
  ConvData d = make_conv(s);
  timed(state, d.flops, [&] { benchmark::DoNotOptimize(conv2d(d.x, d.w, d.b, d.opts)); });
}
void BM_Conv2dBackwardInput(benchmark::State& state, ConvShape s) {
  ConvData d = make_conv(s);
  timed(state, d.flops,
        [&] { benchmark::DoNotOptimize(conv2d_backward_input(d.gy, d.w, d.xs, d.opts)); });
}
void BM_Conv2dBackwardWeight(benchmark::State& state, ConvShape s) {
  ConvData d = make_conv(s);
  timed(state, d.flops,
        [&] { benchmark::DoNotOptimize(conv2d_backward_weight(d.gy, d.x, d.ws, d.opts)); });
}
// The GEMM inside the forward conv alone (per image: w (O, C K K) @ col (C K K, OH OW)), as a
// batched matmul; conv time / this time is the im2col overhead.
void BM_Conv2dGemmOnly(benchmark::State& state, ConvShape s) {
  ConvData d = make_conv(s);
  Generator gen(1);
  const int64_t oh = (s.h + 2 * s.pad - s.k) / s.stride + 1, kk = s.c * s.k * s.k;
  Tensor a = Tensor::randn({s.o, kk}, gen), col = Tensor::randn({kBatch, kk, oh * oh}, gen);
  timed(state, d.flops, [&] { benchmark::DoNotOptimize(matmul(a, col)); });
}

// ResNet-50's 1x1 convolutions (bottleneck blocks; not in ResNet-18's list above).
const ConvShape kPointwise[] = {
    {"r50_1x1_64to256_56", 64, 56, 256, 1, 1, 0},
    {"r50_1x1_256to64_56", 256, 56, 64, 1, 1, 0},
    {"r50_1x1_512to128_28", 512, 28, 128, 1, 1, 0},
    {"r50_1x1_1024to256_14", 1024, 14, 256, 1, 1, 0},
    {"r50_1x1_256to1024_14", 256, 14, 1024, 1, 1, 0},
    {"r50_1x1_2048to512_7", 2048, 7, 512, 1, 1, 0},
    {"r50_1x1_512to2048_7", 512, 7, 2048, 1, 1, 0},
};

// The blocked (nChw16c) convolution of graph inference, conv2d_nchwc (kernels/nchwc_kernels.h):
// x (8, C / 16, H, W, 16), packed weight (O / 16, C / 16, K, K, 16, 16), bias; the same flops
// as Conv2dForward on the same shape. The activation reorders are not timed (a graph keeps
// activations blocked between convolutions).
void BM_Conv2dNchwc(benchmark::State& state, ConvShape s) {
  Generator gen(42);
  const int64_t cb = (s.c + 15) / 16, ob = (s.o + 15) / 16;
  const int64_t oh = (s.h + 2 * s.pad - s.k) / s.stride + 1;
  Tensor xb = Tensor::randn({kBatch, cb, s.h, s.h, 16}, gen);
  Tensor wp = Tensor::randn({ob, cb, s.k, s.k, 16, 16}, gen);
  Tensor b = Tensor::randn({s.o}, gen);
  const Attrs attrs = Attrs()
                          .set("stride", std::vector<int64_t>{s.stride, s.stride})
                          .set("padding", std::vector<int64_t>{s.pad, s.pad})
                          .set("dilation", std::vector<int64_t>{1, 1})
                          .set("groups", int64_t{1})
                          .set("format", std::string("dense"))
                          .set("out_channels", s.o)
                          .set("activation", std::string("none"))
                          .set("has_bias", true)
                          .set("has_residual", false);
  const OpDef& op = op_def(OpId::conv2d_nchwc);
  const double flops = 2.0 * kBatch * s.o * oh * oh * s.c * s.k * s.k;
  timed(state, flops, [&] { benchmark::DoNotOptimize(call_op1(op, {xb, wp, b}, attrs)); });
}

void BM_Matmul(benchmark::State& state, int64_t m, int64_t k, int64_t n) {
  Generator gen(3);
  Tensor a = Tensor::randn({m, k}, gen), b = Tensor::randn({k, n}, gen);
  timed(state, 2.0 * m * n * k, [&] { benchmark::DoNotOptimize(matmul(a, b)); });
}

void BM_Linear(benchmark::State& state, int64_t m, int64_t in, int64_t out) {
  Generator gen(4);
  Tensor x = Tensor::randn({m, in}, gen), w = Tensor::randn({out, in}, gen),
         b = Tensor::randn({out}, gen);
  timed(state, 2.0 * m * in * out, [&] { benchmark::DoNotOptimize(linear(x, w, b)); });
}

// Training-mode batch norm forward; flops counted as 7 per element (mean, variance,
// normalise, scale and shift). Memory bound: GB/s counts one read for the statistics,
// one read and one write for the output.
void BM_BatchNormForward(benchmark::State& state) {
  Generator gen(5);
  const Shape xs{kBatch, 64, 56, 56};
  Tensor x = Tensor::randn(xs, gen);
  Tensor gamma = Tensor::ones({64}), beta = Tensor::zeros({64});
  Tensor rm = Tensor::zeros({64}), rv = Tensor::ones({64});
  const double n = static_cast<double>(numel(xs));
  timed(state, 7.0 * n,
        [&] { benchmark::DoNotOptimize(batch_norm(x, gamma, beta, rm, rv, true)); });
  state.counters["GB/s"] = state.counters["GFLOP/s"].value / 7.0 * 3 * sizeof(float);
}

void register_all() {
  for (const ConvShape& s : kConvs) {
    const std::string n = s.name;
    benchmark::RegisterBenchmark(("Conv2dForward/" + n).c_str(), BM_Conv2dForward, s);
    if (s.groups == 1 && s.c % 16 == 0)
      benchmark::RegisterBenchmark(("Conv2dNchwc/" + n).c_str(), BM_Conv2dNchwc, s);
    if (s.groups == 1)
      benchmark::RegisterBenchmark(("Conv2dGemmOnly/" + n).c_str(), BM_Conv2dGemmOnly, s);
    benchmark::RegisterBenchmark(("Conv2dBackwardInput/" + n).c_str(), BM_Conv2dBackwardInput, s);
    benchmark::RegisterBenchmark(("Conv2dBackwardWeight/" + n).c_str(), BM_Conv2dBackwardWeight, s);
  }
  for (const ConvShape& s : kPointwise) {
    const std::string n = s.name;
    benchmark::RegisterBenchmark(("Conv2dForward/" + n).c_str(), BM_Conv2dForward, s);
    benchmark::RegisterBenchmark(("Conv2dNchwc/" + n).c_str(), BM_Conv2dNchwc, s);
  }
  benchmark::RegisterBenchmark("Matmul/512x512x512", BM_Matmul, 512, 512, 512);
  benchmark::RegisterBenchmark("Matmul/fc_8x512_512x1000", BM_Matmul, 8, 512, 1000);
  benchmark::RegisterBenchmark("Linear/fc_8x512_to_1000", BM_Linear, 8, 512, 1000);
  benchmark::RegisterBenchmark("BatchNormForward/8x64x56x56", BM_BatchNormForward);
}

}  // namespace

int main(int argc, char** argv) {
  duet::set_num_threads(kThreads);
#ifdef DUET_BENCH_HAS_EIGEN
  Eigen::setNbThreads(kThreads);
#endif
  g_peak_gflops = measure_peak_gflops(kThreads);
  std::printf("fp32 peak (%s, %d threads, %d FMA chains): %.1f GFLOP/s\n", kIsa, kThreads, kChains,
              g_peak_gflops);
  std::printf("single-thread peak: %.1f GFLOP/s\n", measure_peak_gflops(1));
  g_core_peak_gflops = measure_core_peak_gflops();
  std::printf("one core's peak per CPU second: %.1f GFLOP/s\n", g_core_peak_gflops);
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("fp32_peak_gflops", std::to_string(g_peak_gflops));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

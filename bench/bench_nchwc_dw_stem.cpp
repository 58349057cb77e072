// The blocked-layout depthwise conv (depthwise_conv2d_nchwc) and plain-input stem conv
// (conv2d_nchwc, format "plain_input") against the plain conv2d_fused on the same layer, with the
// same epilogue: MobileNetV2 (3x3, relu6) and EfficientNet-B0 (3x3 / 5x5, silu) depthwise
// layers and the ResNet / MobileNetV2 stems, at batch 1 and 8 (224x224 networks), on duet's
// thread pool (all threads). The nchwc inputs are already blocked and packed: the graph keeps
// activations blocked between layers and packs weights once.
//
//   ./bench_nchwc_dw_stem --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//   ./bench_nchwc_dw_stem --benchmark_filter='mbv2_dw_32' --benchmark_repetitions=5
//
// Counters: GFLOP/s (2 flops per multiply-add of the real channels), GB/s (bytes of x and y at
// the real channel count, read and written once), best_* from the fastest iteration (on a
// shared machine, the figure closest to the unloaded speed), frac_peak against an FMA loop's
// fp32 peak on the same threads (measured first).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "bench_timing.h"
#include "duet/duet.h"
#include "ops/op_def.h"  // the blocked ops have no public function

namespace {

using namespace duet;

double g_peak_gflops = 0;

#if defined(__AVX512F__)
// fp32 peak of one thread: 12 independent FMA chains on zmm registers.
__attribute__((noinline)) float fma_chains(long iters) {
  __m512 a0 = _mm512_set1_ps(1.f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
         a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i) {
    a0 = _mm512_fmadd_ps(a0, b, c), a1 = _mm512_fmadd_ps(a1, b, c);
    a2 = _mm512_fmadd_ps(a2, b, c), a3 = _mm512_fmadd_ps(a3, b, c);
    a4 = _mm512_fmadd_ps(a4, b, c), a5 = _mm512_fmadd_ps(a5, b, c);
    a6 = _mm512_fmadd_ps(a6, b, c), a7 = _mm512_fmadd_ps(a7, b, c);
    a8 = _mm512_fmadd_ps(a8, b, c), a9 = _mm512_fmadd_ps(a9, b, c);
    a10 = _mm512_fmadd_ps(a10, b, c), a11 = _mm512_fmadd_ps(a11, b, c);
    __asm__ volatile(""
                     : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),
                       "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  const __m512 s =
      _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                    _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)),
                                  _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11))));
  alignas(64) float t[16];
  _mm512_store_ps(t, s);
  return t[0];
}

double measure_peak_gflops(int threads) {
  const long iters = 10'000'000;
  double best = 0;
  float sink = 0;
  for (int rep = 0; rep < 7; ++rep) {
    std::vector<float> sums(threads);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> team;
    for (int t = 0; t < threads; ++t) team.emplace_back([&, t] { sums[t] = fma_chains(iters); });
    for (auto& th : team) th.join();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float v : sums) sink += v;
    best = std::max(best, threads * iters * 12 * 16 * 2.0 / dt / 1e9);
  }
  if (sink == 12345.f) std::printf(" ");
  return best;
}
#else
double measure_peak_gflops(int) {
  return 0;
}
#endif

template <class F>
void timed(benchmark::State& state, double flops, double bytes, F&& body) {
  const duet::bench::Timing t = duet::bench::time_iterations(state, body);
  const double seconds = t.seconds, fastest = t.fastest, n = t.iterations;
  state.counters["GFLOP/s"] = flops * n / seconds / 1e9;
  state.counters["GB/s"] = bytes * n / seconds / 1e9;
  state.counters["best_us"] = fastest * 1e6;
  state.counters["best_GFLOP/s"] = flops / fastest / 1e9;
  state.counters["best_GB/s"] = bytes / fastest / 1e9;
  state.counters["frac_peak"] = g_peak_gflops > 0 ? flops / fastest / 1e9 / g_peak_gflops : 0;
}

struct Layer {
  std::string name;
  int64_t c, h, o, k, stride, pad;
  bool depthwise;
  const char* act;
};

int64_t out_size(const Layer& l) {
  return (l.h + 2 * l.pad - l.k) / l.stride + 1;
}

Attrs nchwc_attrs(const Layer& l, const char* format) {
  using Ints = std::vector<int64_t>;
  return Attrs()
      .set("stride", Ints{l.stride, l.stride})
      .set("padding", Ints{l.pad, l.pad})
      .set("dilation", Ints{1, 1})
      .set("groups", l.depthwise ? l.c : int64_t{1})
      .set("out_channels", l.o)
      .set("activation", std::string(l.act))
      .set("has_bias", true)
      .set("has_residual", false)
      .set("format", std::string(format));
}

// The plain conv2d_fused (groups = C for a depthwise layer) or the blocked op.
void bench_layer(benchmark::State& state, const Layer& l, int64_t batch, bool blocked) {
  Generator gen(7);
  const int64_t oh = out_size(l), cb = (l.c + 15) / 16, ob = (l.o + 15) / 16;
  const int64_t cg = l.depthwise ? 1 : l.c;
  const double flops = 2.0 * batch * l.o * oh * oh * cg * l.k * l.k;
  const double bytes = 4.0 * batch * (l.c * l.h * l.h + l.o * oh * oh);
  const Tensor b = Tensor::randn({l.o}, gen);
  if (!blocked) {
    const Tensor x = Tensor::randn({batch, l.c, l.h, l.h}, gen);
    const Tensor w = Tensor::randn({l.o, cg, l.k, l.k}, gen);
    const Conv2dOptions o{.stride = l.stride, .padding = l.pad, .groups = l.depthwise ? l.c : 1};
    timed(state, flops, bytes,
          [&] { benchmark::DoNotOptimize(conv2d_fused(x, w, b, Tensor(), o, l.act)); });
    return;
  }
  const Tensor x = l.depthwise ? Tensor::randn({batch, cb, l.h, l.h, 16}, gen)
                               : Tensor::randn({batch, l.c, l.h, l.h}, gen);
  const Tensor wp = l.depthwise ? Tensor::randn({cb, l.k, l.k, 16}, gen)
                                : Tensor::randn({ob, l.c, l.k, l.k, 16}, gen);
  const OpDef& op = op_def(l.depthwise ? OpId::depthwise_conv2d_nchwc : OpId::conv2d_nchwc);
  const Attrs a = nchwc_attrs(l, l.depthwise ? "depthwise" : "plain_input");
  timed(state, flops, bytes, [&] { benchmark::DoNotOptimize(call_op1(op, {x, wp, b}, a)); });
}

const std::vector<Layer>& layers() {
  static const std::vector<Layer> r = {
      // MobileNetV2 depthwise (3x3, relu6)
      {"mbv2_dw_32_112_s1", 32, 112, 32, 3, 1, 1, true, "relu6"},
      {"mbv2_dw_96_112_s2", 96, 112, 96, 3, 2, 1, true, "relu6"},
      {"mbv2_dw_144_56_s1", 144, 56, 144, 3, 1, 1, true, "relu6"},
      {"mbv2_dw_192_28_s1", 192, 28, 192, 3, 1, 1, true, "relu6"},
      {"mbv2_dw_576_14_s1", 576, 14, 576, 3, 1, 1, true, "relu6"},
      {"mbv2_dw_960_7_s1", 960, 7, 960, 3, 1, 1, true, "relu6"},
      // EfficientNet-B0 depthwise (silu)
      {"effb0_dw5_144_56_s2", 144, 56, 144, 5, 2, 2, true, "silu"},
      {"effb0_dw5_240_28_s1", 240, 28, 240, 5, 1, 2, true, "silu"},
      {"effb0_dw3_480_14_s1", 480, 14, 480, 3, 1, 1, true, "silu"},
      {"effb0_dw5_1152_7_s1", 1152, 7, 1152, 5, 1, 2, true, "silu"},
      // stems
      {"resnet_stem_7x7s2_3to64", 3, 224, 64, 7, 2, 3, false, "relu"},
      {"mbv2_stem_3x3s2_3to32", 3, 224, 32, 3, 2, 1, false, "relu6"},
      {"effb0_stem_3x3s2_3to32", 3, 224, 32, 3, 2, 1, false, "silu"},
  };
  return r;
}

void register_all() {
  for (const Layer& l : layers()) {
    for (int64_t batch : {1, 8}) {
      for (bool blocked : {false, true}) {
        const std::string name =
            l.name + "/b" + std::to_string(batch) + (blocked ? "/nchwc" : "/plain");
        benchmark::RegisterBenchmark(
            name.c_str(),
            [l, batch, blocked](benchmark::State& s) { bench_layer(s, l, batch, blocked); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  g_peak_gflops = measure_peak_gflops(duet::num_threads());
  std::printf("fp32 peak (FMA loop, %d threads): %.1f GFLOP/s; kernel ISA: %s\n",
              duet::num_threads(), g_peak_gflops, duet::simd::isa_name(duet::simd::kernel_isa()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// The blocked layout's reorders and pools (kernels/nchwc_kernels.h) at 224x224 shapes, batch 1
// and 8: to_nchwc / from_nchwc at ResNet-50's activation sizes (where a blocked region can start
// or end) next to a memcpy of the same bytes; against the plain op: the ResNet stem max pool
// (3x3 / 2, padding 1, 64 x 112 x 112), VGG-16's first max pool (2x2 / 2, 64 x 224 x 224), the
// ResNet-50 head's global average pool (2048 x 7 x 7) and EfficientNet-B0's first
// squeeze-excite pools (32 x 112 x 112, 96 x 56 x 56) against adaptive_avg_pool2d(1x1), a 3x3 / 1
// average pool. duet's thread pool, all threads. Kernels run on outputs allocated once, as in a
// compiled graph (/plain_eager: the plain op in eager mode, allocating its output).
//
//   ./bench_nchwc_reorder_pool --benchmark_repetitions=5 --benchmark_enable_random_interleaving
//   ./bench_nchwc_reorder_pool --benchmark_filter='maxpool' --benchmark_repetitions=9
//   DUET_CPU_ISA=generic ./bench_nchwc_reorder_pool   # the generic C++ kernels
//   DUET_NUM_THREADS=1 ./bench_nchwc_reorder_pool     # one thread
// copy/...: a parallel memcpy of the same bytes, the memory-bound ceiling of a reorder.
//
// Counters: GB/s (bytes read + written once, float32; blocked tensors at their padded size),
// best_us / best_GB/s from the fastest iteration (on a shared machine, the figure closest to
// the unloaded speed).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "bench_timing.h"
#include "duet/duet.h"
#include "ops/op_def.h"  // the blocked ops have no public function

namespace {

using namespace duet;
using Ints = std::vector<int64_t>;

template <class F>
void timed(benchmark::State& state, double bytes, F&& body) {
  const duet::bench::Timing t = duet::bench::time_iterations(state, body);
  const double seconds = t.seconds, fastest = t.fastest, n = t.iterations;
  state.counters["GB/s"] = bytes * n / seconds / 1e9;
  state.counters["best_us"] = fastest * 1e6;
  state.counters["best_GB/s"] = bytes / fastest / 1e9;
}

int64_t blocks(int64_t c) {
  return (c + 15) / 16;
}

// One op's CPU kernel on inputs with outputs allocated once (shapes from the op's rule), as a
// compiled graph runs it from its arena: the timing leaves out eager mode's allocation (fresh
// pages for every output).
struct Call {
  const OpDef* op;
  Attrs attrs;
  std::vector<Tensor> in, out;
  void operator()() {
    const KernelArgs k{attrs, in, out};
    op->kernels[static_cast<int>(DeviceType::cpu)](k);
  }
};
Call prepare(OpId id, std::vector<Tensor> in, const Attrs& a = {}) {
  const OpDef& d = op_def(id);
  std::vector<TensorMeta> metas;
  for (const Tensor& t : in) metas.push_back({t.shape(), t.dtype(), t.device()});
  Call c{&d, a, std::move(in), {}};
  for (const TensorMeta& m : d.infer({d.name.c_str(), metas, a}))
    c.out.push_back(Tensor::empty(m.shape, m.dtype));
  return c;
}

// to_nchwc (plain -> blocked) or from_nchwc (blocked -> plain) of (n, c, h, h), or
// copy: a parallel memcpy of the plain tensor's bytes into a buffer allocated once (duet's
// thread pool), the memory-bound ceiling for the same bytes.
void bench_reorder(benchmark::State& state, int64_t n, int64_t c, int64_t h, int dir) {
  Generator gen(3);
  const double bytes = 4.0 * n * h * h * (c + blocks(c) * 16);
  if (dir == 2) {
    const Tensor x = Tensor::randn({n, c, h, h}, gen);
    Tensor y = Tensor::empty({n, c, h, h});
    const float* px = x.data<float>();
    float* py = y.data<float>();
    const int64_t count = x.numel();
    timed(state, 8.0 * count, [&] {
      parallel::parallel_for(0, count, 1 << 14, [&](int64_t lo, int64_t hi) {
        std::memcpy(py + lo, px + lo, sizeof(float) * static_cast<size_t>(hi - lo));
      });
      benchmark::DoNotOptimize(py);
    });
  } else if (dir == 0) {
    Call call = prepare(OpId::to_nchwc, {Tensor::randn({n, c, h, h}, gen)});
    timed(state, bytes, call);
  } else {
    Call call = prepare(OpId::from_nchwc, {Tensor::randn({n, blocks(c), h, h, 16}, gen)},
                        Attrs().set("channels", c));
    timed(state, bytes, call);
  }
}

struct Pool {
  std::string name;
  int64_t c, h, k, s, p;  // k == 0: global average pool
  bool is_max;
};

int64_t pool_out(const Pool& p) {
  return p.k == 0 ? 1 : (p.h + 2 * p.p - p.k) / p.s + 1;
}

Attrs pool_attrs(const Pool& p) {
  Attrs a = Attrs()
                .set("kernel", Ints{p.k, p.k})
                .set("stride", Ints{p.s, p.s})
                .set("padding", Ints{p.p, p.p})
                .set("ceil_mode", false);
  if (p.is_max) return a.set("dilation", Ints{1, 1});
  return a.set("count_include_pad", true);
}

// mode 0: the plain op's kernel (max_pool2d, avg_pool2d, adaptive_avg_pool2d), 1: the blocked
// op's kernel, both on preallocated outputs; 2: the plain op in eager mode (allocating).
void bench_pool(benchmark::State& state, const Pool& p, int64_t n, int mode) {
  Generator gen(5);
  const int64_t c = mode == 1 ? blocks(p.c) * 16 : p.c, oh = pool_out(p);
  const double bytes = 4.0 * n * c * (p.h * p.h + oh * oh);
  if (mode == 2) {
    const Tensor x = Tensor::randn({n, p.c, p.h, p.h}, gen);
    const Pool2dOptions o{.kernel = p.k, .stride = p.s, .padding = p.p};
    if (p.k == 0)
      timed(state, bytes, [&] { benchmark::DoNotOptimize(adaptive_avg_pool2d(x, {1, 1})); });
    else if (p.is_max)
      timed(state, bytes, [&] { benchmark::DoNotOptimize(max_pool2d(x, o)); });
    else
      timed(state, bytes, [&] { benchmark::DoNotOptimize(avg_pool2d(x, o)); });
    return;
  }
  if (mode == 0) {
    const Tensor x = Tensor::randn({n, p.c, p.h, p.h}, gen);
    Call call =
        p.k == 0 ? prepare(OpId::adaptive_avg_pool2d, {x}, Attrs().set("output_size", Ints{1, 1}))
                 : prepare(p.is_max ? OpId::max_pool2d : OpId::avg_pool2d, {x}, pool_attrs(p));
    timed(state, bytes, call);
    return;
  }
  const Tensor x = Tensor::randn({n, blocks(p.c), p.h, p.h, 16}, gen);
  Call call = p.k == 0 ? prepare(OpId::global_avg_pool_nchwc, {x})
                       : prepare(p.is_max ? OpId::max_pool2d_nchwc : OpId::avg_pool2d_nchwc, {x},
                                 pool_attrs(p));
  timed(state, bytes, call);
}

void register_all() {
  // ResNet-50 activations: stem output, stage outputs.
  const std::vector<std::pair<int64_t, int64_t>> acts = {{64, 112}, {64, 56},   {256, 56},
                                                         {512, 28}, {1024, 14}, {2048, 7}};
  for (int64_t n : {1, 8})
    for (const auto& [c, h] : acts)
      for (int dir : {0, 1, 2}) {
        const char* what[] = {"to_nchwc", "from_nchwc", "copy"};
        const std::string name = std::string(what[dir]) + "/" + std::to_string(c) + "x" +
                                 std::to_string(h) + "/b" + std::to_string(n);
        benchmark::RegisterBenchmark(
            name.c_str(),
            [n, c = c, h = h, dir](benchmark::State& s) { bench_reorder(s, n, c, h, dir); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
  const std::vector<Pool> pools = {{"maxpool_stem_3x3s2_64x112", 64, 112, 3, 2, 1, true},
                                   {"maxpool_vgg_2x2s2_64x224", 64, 224, 2, 2, 0, true},
                                   {"gap_2048x7", 2048, 7, 0, 1, 0, false},
                                   {"gap_se_32x112", 32, 112, 0, 1, 0, false},
                                   {"gap_se_96x56", 96, 56, 0, 1, 0, false},
                                   {"avgpool_3x3s1_256x28", 256, 28, 3, 1, 1, false}};
  for (const Pool& p : pools)
    for (int64_t n : {1, 8})
      for (int mode : {0, 1, 2}) {
        const char* what[] = {"/plain", "/nchwc", "/plain_eager"};
        const std::string name = p.name + "/b" + std::to_string(n) + what[mode];
        benchmark::RegisterBenchmark(
            name.c_str(), [p, n, mode](benchmark::State& s) { bench_pool(s, p, n, mode); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::printf("threads: %d; kernel ISA: %s\n", duet::num_threads(),
              duet::simd::isa_name(duet::simd::kernel_isa()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

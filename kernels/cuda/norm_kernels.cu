// Batch norm on CUDA: batch_norm_train, batch_norm_backward, channel_affine,
// running_stat_update. See norm_kernels.h; formulas as kernels/cpu/norm_kernels.cpp.
//
// Per-channel statistics, x viewed as (N, C, S), M = N * S values per channel:
//   1. channel_partials: grid (C, P); block (c, p) sums its slice of channel c's M values in
//      double: forward sum(d), sum(d^2) with d = x - x[first of channel] (a shift that keeps
//      the one-pass variance exact to ~1e-14 relative); backward sum(g), sum(g (x - mean)).
//   2. finalize: one thread per channel adds the P partials in order, writes the statistics
//      and the per-channel coefficients of step 3.
//   3. an elementwise pass over x.
//
// Element types: X for x, y, grad and grad_x, P for weight, bias, the statistics and the
// coefficients: both float32 or both float64, or X float16 / bfloat16 with P float32 (or P
// X's own dtype): the statistics then stay float32 (sums in double as always) and the
// elementwise passes compute in float32 and round y / grad_x once (cuda/lowp.cuh).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/dtype_dispatch.h"
#include "cuda/lowp.cuh"
#include "cuda/runtime.h"
#include "norm_kernels.h"

namespace duet::cuda_kernels {
namespace {

using cuda_backend::blocks_for;
using cuda_backend::kThreads;
using cuda_backend::Workspace;

// x (N, C, ...) as (N, C, S).
struct Layout {
  int64_t N = 0, C = 0, S = 1;
  int64_t per_channel() const { return N * S; }
  int64_t numel() const { return N * C * S; }
};

Layout layout(const Shape& s) {
  Layout l;
  l.N = s[0];
  l.C = s[1];
  for (size_t i = 2; i < s.size(); ++i) l.S *= s[i];
  return l;
}

// Channel of flat index i of an (N, C, S) tensor; 32-bit division when the tensor has fewer
// than 2^32 elements (the elementwise passes are memory-bound; 64-bit division is not free).
struct ChannelIndex {
  int64_t S = 1, C = 1;
  bool narrow = true;
  ChannelIndex(const Layout& l)
      : S(l.S), C(l.C), narrow(l.numel() <= static_cast<int64_t>(UINT32_MAX)) {}
  __device__ __forceinline__ int64_t operator()(int64_t i) const {
    if (narrow)
      return (static_cast<uint32_t>(i) / static_cast<uint32_t>(S)) % static_cast<uint32_t>(C);
    return (i / S) % C;
  }
};

// Sum of a and b over the block (blockDim.x a multiple of 32, at most 1024); thread 0 gets it.
__device__ __forceinline__ void block_sum2(double& a, double& b) {
  __shared__ double sa[32], sb[32];
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, o);
    b += __shfl_down_sync(0xffffffffu, b, o);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) sa[warp] = a, sb[warp] = b;
  __syncthreads();
  if (warp == 0) {
    const int nw = blockDim.x >> 5;
    a = lane < nw ? sa[lane] : 0.0;
    b = lane < nw ? sb[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) {
      a += __shfl_down_sync(0xffffffffu, a, o);
      b += __shfl_down_sync(0xffffffffu, b, o);
    }
  }
}

// Block (c, p) of grid (C, P) reduces values j in [p * chunk, min((p + 1) * chunk, M)) of
// channel c, j = n * S + s -> element (n * C + c) * S + s; writes part[(c * P + p) * 2 + {0, 1}].
// kBackward: sums g and g * (x - mean[c]); else d = x - x[first of channel c]: d and d * d.
template <class X, class T, bool kBackward>
__global__ void channel_partials(const X* __restrict__ x, const X* __restrict__ g,
                                 const T* __restrict__ mean, int64_t C, int64_t S, int64_t M,
                                 int64_t chunk, double* __restrict__ part) {
  const int64_t c = blockIdx.x, p = blockIdx.y, P = gridDim.y;
  const int64_t start = p * chunk, end = min(start + chunk, M);
  const double shift = kBackward ? static_cast<double>(mean[c]) : static_cast<double>(x[c * S]);
  double a = 0, b = 0;
  const int64_t step = blockDim.x, dn = step / S, ds = step % S;
  int64_t j = start + threadIdx.x;
  int64_t n = j / S, s = j % S;
  for (; j < end; j += step) {
    const int64_t i = (n * C + c) * S + s;
    const double d = static_cast<double>(x[i]) - shift;
    if constexpr (kBackward) {
      const double gv = static_cast<double>(g[i]);
      a += gv;
      b += gv * d;
    } else {
      a += d;
      b += d * d;
    }
    n += dn;
    s += ds;
    if (s >= S) s -= S, ++n;
  }
  block_sum2(a, b);
  if (threadIdx.x == 0) {
    part[(c * P + p) * 2] = a;
    part[(c * P + p) * 2 + 1] = b;
  }
}

// Forward statistics of every channel from P partials (P = 0 when M = 0). coef[c] receives
// the apply scale invstd * w in the compute type K (T; float for 16-bit T, as the CPU's float32
// round trip has it), coef_mean[c] the mean in K (the apply pass reads these, not the
// statistics rounded to a 16-bit T).
template <class X, class T, class K = lowp::compute_t<T>>
__global__ void finalize_forward(const double* __restrict__ part, int64_t P, int64_t C, int64_t S,
                                 int64_t M, const X* __restrict__ x, const T* __restrict__ w,
                                 double eps, T* __restrict__ mean, T* __restrict__ invstd,
                                 T* __restrict__ var, K* __restrict__ coef,
                                 K* __restrict__ coef_mean) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
       c += int64_t{blockDim.x} * gridDim.x) {
    double a = 0, b = 0;
    for (int64_t p = 0; p < P; ++p) {
      a += part[(c * P + p) * 2];
      b += part[(c * P + p) * 2 + 1];
    }
    double m = 0, v = 0;
    if (M > 0) {
      const double dm = a / static_cast<double>(M);
      m = static_cast<double>(x[c * S]) + dm;
      v = b / static_cast<double>(M) - dm * dm;
      if (v < 0) v = 0;
    }
    const double inv = 1.0 / sqrt(v + eps);
    mean[c] = static_cast<T>(m);
    invstd[c] = static_cast<T>(inv);
    var[c] = static_cast<T>(v);
    coef[c] = static_cast<K>(inv * static_cast<double>(w[c]));
    coef_mean[c] = static_cast<K>(m);
  }
}

// y = (x - mean[c]) * scale[c] + bias[c]
template <class X, class T, class C = lowp::compute_t<T>>
__global__ void apply_forward(const X* __restrict__ x, const C* __restrict__ mean,
                              const C* __restrict__ scale, const T* __restrict__ bias, int64_t n,
                              ChannelIndex channel, X* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{blockDim.x} * gridDim.x) {
    const int64_t c = channel(i);
    y[i] = static_cast<X>((static_cast<C>(x[i]) - mean[c]) * scale[c] + static_cast<C>(bias[c]));
  }
}

// Backward: grad_bias, grad_weight and the coefficients k1, k2, k3 (coef[3c + 0..2], in the
// compute type K) of grad_x = k1 g + k2 (x - mean) + k3.
template <class T, class K = lowp::compute_t<T>>
__global__ void finalize_backward(const double* __restrict__ part, int64_t P, int64_t C, int64_t M,
                                  const T* __restrict__ w, const T* __restrict__ invstd,
                                  T* __restrict__ gw, T* __restrict__ gb, K* __restrict__ coef) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
       c += int64_t{blockDim.x} * gridDim.x) {
    double sum_g = 0, sum_gd = 0;
    for (int64_t p = 0; p < P; ++p) {
      sum_g += part[(c * P + p) * 2];
      sum_gd += part[(c * P + p) * 2 + 1];
    }
    const double inv = static_cast<double>(invstd[c]);
    gb[c] = static_cast<T>(sum_g);
    gw[c] = static_cast<T>(sum_gd * inv);
    const double m = static_cast<double>(M);
    const double k1 = static_cast<double>(w[c]) * inv;
    const double k2 = M > 0 ? -k1 * inv * inv * sum_gd / m : 0.0;
    const double k3 = M > 0 ? -k1 * sum_g / m : 0.0;
    coef[3 * c] = static_cast<K>(k1);
    coef[3 * c + 1] = static_cast<K>(k2);
    coef[3 * c + 2] = static_cast<K>(k3);
  }
}

template <class X, class T, class C = lowp::compute_t<T>>
__global__ void apply_backward(const X* __restrict__ g, const X* __restrict__ x,
                               const T* __restrict__ mean, const C* __restrict__ coef, int64_t n,
                               ChannelIndex channel, X* __restrict__ gx) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{blockDim.x} * gridDim.x) {
    const int64_t c = channel(i);
    gx[i] = static_cast<X>(coef[3 * c] * static_cast<C>(g[i]) +
                           coef[3 * c + 1] * (static_cast<C>(x[i]) - static_cast<C>(mean[c])) +
                           coef[3 * c + 2]);
  }
}

// y may alias x (channel_affine's inplace_input = 0: the graph planner writes y over a dying
// x), so neither is __restrict__; each thread reads x[i] before writing y[i].
template <class X, class T>
__global__ void channel_affine_kernel(const X* x, const T* __restrict__ scale,
                                      const T* __restrict__ shift, int64_t n, ChannelIndex channel,
                                      X* y) {
  using C = lowp::compute_t<T>;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{blockDim.x} * gridDim.x) {
    const int64_t c = channel(i);
    y[i] =
        static_cast<X>(static_cast<C>(x[i]) * static_cast<C>(scale[c]) + static_cast<C>(shift[c]));
  }
}

template <class T>
__global__ void running_update_kernel(T* __restrict__ running, const T* __restrict__ stat,
                                      int64_t n, double momentum, double correction) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{blockDim.x} * gridDim.x) {
    running[i] = static_cast<T>((1.0 - momentum) * static_cast<double>(running[i]) +
                                momentum * static_cast<double>(stat[i]) * correction);
  }
}

// Slices per channel: enough blocks to fill the GPU (~8 per SM), each at least 8 values per
// thread, at most 65535 (grid.y).
int64_t slices(const Layout& l, int sms) {
  const int64_t M = l.per_channel();
  if (M == 0) return 0;
  const int64_t by_size = (M + kThreads * 8 - 1) / (kThreads * 8);
  const int64_t by_grid = (int64_t{8} * sms + l.C - 1) / l.C;
  return std::clamp<int64_t>(std::min(by_size, by_grid), 1, 65535);
}

// Runs channel_partials into `part` (C * P * 2 doubles); P from slices().
template <class X, class T, bool kBackward>
void launch_partials(const X* x, const X* g, const T* mean, const Layout& l, int64_t P,
                     double* part, cudaStream_t stream) {
  if (P == 0) return;
  const int64_t M = l.per_channel();
  const int64_t chunk = (M + P - 1) / P;
  DUET_CHECK(l.C <= 0x7fffffff, "batch norm: ", l.C, " channels exceed the CUDA grid");
  const dim3 grid(static_cast<unsigned>(l.C), static_cast<unsigned>(P));
  channel_partials<X, T, kBackward>
      <<<grid, kThreads, 0, stream>>>(x, g, mean, l.C, l.S, M, chunk, part);
  DUET_CUDA_CHECK_LAUNCH();
}

size_t round_up(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

// Calls f(X{}, P{}) for the data dtype x and the parameter dtype p: (float32, float32),
// (float64, float64), or 16-bit x with float32 or its own dtype; a duet::Error naming `op`
// otherwise.
template <class F>
void dispatch_norm(DType x, DType p, const char* op, F&& f) {
  if (lowp::dispatch_low(x, [&](auto xtag) {
        if (p == DType::float32) return f(xtag, float{});
        DUET_CHECK(p == x, op, ": a ", x, " input needs float32 or ", x,
                   " weight, bias and statistics, got ", p);
        f(xtag, xtag);
      }))
    return;
  DUET_CHECK(x == p, op, ": a ", x, " input needs ", x, " weight, bias and statistics, got ", p);
  detail::dispatch_floating(x, op, [&](auto tag) { f(tag, tag); });
}

}  // namespace

void batch_norm_train(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Layout l = layout(x.shape());
  if (l.C == 0) return;
  const double eps = k.attrs.f("eps");
  auto& ctx = cuda_backend::context_for(x);
  const int64_t P = slices(l, ctx.props.multiProcessorCount);
  const DType pt = k.inputs[1].dtype();
  lowp::expect_dtype(pt, "batch_norm_train", k.inputs[2], k.outputs[1], k.outputs[2], k.outputs[3]);
  lowp::expect_dtype(x.dtype(), "batch_norm_train", k.outputs[0]);
  dispatch_norm(x.dtype(), pt, "batch_norm_train", [&](auto xtag, auto tag) {
    using X = decltype(xtag);
    using T = decltype(tag);
    using K = lowp::compute_t<T>;
    const size_t part_bytes = round_up(static_cast<size_t>(l.C * P * 2) * sizeof(double));
    Workspace ws(part_bytes + static_cast<size_t>(l.C) * 2 * sizeof(K), x.device());
    double* part = static_cast<double*>(ws.data());
    K* scale = reinterpret_cast<K*>(static_cast<char*>(ws.data()) + part_bytes);
    K* kmean = scale + l.C;
    const X* px = static_cast<const X*>(x.data_ptr());
    T* mean = static_cast<T*>(k.outputs[1].data_ptr());
    launch_partials<X, T, false>(px, nullptr, nullptr, l, P, part, ctx.stream);
    finalize_forward<X, T><<<blocks_for(l.C), kThreads, 0, ctx.stream>>>(
        part, P, l.C, l.S, l.per_channel(), px, static_cast<const T*>(k.inputs[1].data_ptr()), eps,
        mean, static_cast<T*>(k.outputs[2].data_ptr()), static_cast<T*>(k.outputs[3].data_ptr()),
        scale, kmean);
    DUET_CUDA_CHECK_LAUNCH();
    const int64_t n = l.numel();
    if (n == 0) return;
    apply_forward<X, T><<<blocks_for(n), kThreads, 0, ctx.stream>>>(
        px, kmean, scale, static_cast<const T*>(k.inputs[2].data_ptr()), n, ChannelIndex(l),
        static_cast<X*>(k.outputs[0].data_ptr()));
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void batch_norm_backward(const KernelArgs& k) {
  const Tensor& x = k.inputs[1];
  const Layout l = layout(x.shape());
  if (l.C == 0) return;
  auto& ctx = cuda_backend::context_for(x);
  const int64_t P = slices(l, ctx.props.multiProcessorCount);
  const DType pt = k.inputs[2].dtype();
  lowp::expect_dtype(pt, "batch_norm_backward", k.inputs[3], k.inputs[4], k.outputs[1],
                     k.outputs[2]);
  lowp::expect_dtype(x.dtype(), "batch_norm_backward", k.inputs[0], k.outputs[0]);
  dispatch_norm(x.dtype(), pt, "batch_norm_backward", [&](auto xtag, auto tag) {
    using X = decltype(xtag);
    using T = decltype(tag);
    using K = lowp::compute_t<T>;
    const size_t part_bytes = round_up(static_cast<size_t>(l.C * P * 2) * sizeof(double));
    Workspace ws(part_bytes + static_cast<size_t>(l.C) * 3 * sizeof(K), x.device());
    double* part = static_cast<double*>(ws.data());
    K* coef = reinterpret_cast<K*>(static_cast<char*>(ws.data()) + part_bytes);
    const X* pg = static_cast<const X*>(k.inputs[0].data_ptr());
    const X* px = static_cast<const X*>(x.data_ptr());
    const T* mean = static_cast<const T*>(k.inputs[3].data_ptr());
    launch_partials<X, T, true>(px, pg, mean, l, P, part, ctx.stream);
    finalize_backward<T><<<blocks_for(l.C), kThreads, 0, ctx.stream>>>(
        part, P, l.C, l.per_channel(), static_cast<const T*>(k.inputs[2].data_ptr()),
        static_cast<const T*>(k.inputs[4].data_ptr()), static_cast<T*>(k.outputs[1].data_ptr()),
        static_cast<T*>(k.outputs[2].data_ptr()), coef);
    DUET_CUDA_CHECK_LAUNCH();
    const int64_t n = l.numel();
    if (n == 0) return;
    apply_backward<X, T><<<blocks_for(n), kThreads, 0, ctx.stream>>>(
        pg, px, mean, coef, n, ChannelIndex(l), static_cast<X*>(k.outputs[0].data_ptr()));
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void channel_affine(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Layout l = layout(x.shape());
  const int64_t n = l.numel();
  if (n == 0) return;
  auto& ctx = cuda_backend::context_for(x);
  const DType pt = k.inputs[1].dtype();
  lowp::expect_dtype(pt, "channel_affine", k.inputs[2]);
  lowp::expect_dtype(x.dtype(), "channel_affine", k.outputs[0]);
  dispatch_norm(x.dtype(), pt, "channel_affine", [&](auto xtag, auto tag) {
    using X = decltype(xtag);
    using T = decltype(tag);
    channel_affine_kernel<X, T><<<blocks_for(n), kThreads, 0, ctx.stream>>>(
        static_cast<const X*>(x.data_ptr()), static_cast<const T*>(k.inputs[1].data_ptr()),
        static_cast<const T*>(k.inputs[2].data_ptr()), n, ChannelIndex(l),
        static_cast<X*>(k.outputs[0].data_ptr()));
    DUET_CUDA_CHECK_LAUNCH();
  });
}

void running_stat_update(const KernelArgs& k) {
  const Tensor& running = k.inputs[0];
  const int64_t n = running.numel();
  if (n == 0) return;
  const double m = k.attrs.f("momentum"), corr = k.attrs.f("correction");
  auto& ctx = cuda_backend::context_for(running);
  detail::dispatch_floating(running.dtype(), "running_stat_update_", [&](auto tag) {
    using T = decltype(tag);
    running_update_kernel<T><<<blocks_for(n), kThreads, 0, ctx.stream>>>(
        static_cast<T*>(running.data_ptr()), static_cast<const T*>(k.inputs[1].data_ptr()), n, m,
        corr);
    DUET_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace duet::cuda_kernels

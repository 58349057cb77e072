// Device helpers shared by the reduction and softmax/loss kernels (kernels/cuda/reduce_kernels.cu,
// loss_kernels.cu): the block layout of an (outer, R, inner) problem, the in-block tree
// reduction along R, and reduce_3d, the generic (outer, R, inner) -> (outer, inner) fold with
// its folding ops (sum, max, argmax) and output conversions. Only included by .cu files.
//
// A 256-thread block is laid out as bx threads along `inner` (fastest), by along the reduced
// axis R and bz along `outer`: thread t has tx = t % bx, ty = (t / bx) % by, tz = t / (bx * by).
// Each (tx, tz) column folds its strided share of R (r = ty, ty + by, ...), then the by
// partial values combine in shared memory. Reads stay coalesced in both regimes: with
// inner == 1 consecutive ty read consecutive r, otherwise consecutive tx read consecutive i.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cuda/runtime.h"

namespace duet::cuda_kernels::axis {

inline constexpr int kBlock = 256;  // threads per block, == cuda_backend::kThreads

inline int pow2_at_least(int64_t n, int cap) {
  int p = 1;
  while (p < n && p < cap) p <<= 1;
  return p;
}

struct Layout {
  int bx = 1, by = kBlock, bz = 1;
  int64_t inner_blocks = 1;  // ceil(inner / bx)
  int64_t outer_blocks = 1;  // ceil(outer / bz)
  int64_t blocks() const { return inner_blocks * outer_blocks; }
};

// bx * by * bz == kBlock. Threads go along R first (up to R's size), the rest to inner and
// then outer, so small problems still fill the block.
inline Layout layout(int64_t outer, int64_t R, int64_t inner) {
  Layout l;
  l.bx = inner <= 1 ? 1 : pow2_at_least(inner, 32);
  l.by = kBlock / l.bx;
  const int r_cap = pow2_at_least(R, kBlock);
  const int inner_cap = pow2_at_least(inner, kBlock);
  while (l.by > r_cap) {
    l.by /= 2;
    if (l.bx < inner_cap) l.bx *= 2;
  }
  l.bz = kBlock / (l.bx * l.by);
  l.inner_blocks = (inner + l.bx - 1) / l.bx;
  l.outer_blocks = (outer + l.bz - 1) / l.bz;
  return l;
}

// Thread coordinates of a Layout inside its block (blockIdx.x enumerates (outer block,
// inner block) with the inner block fastest).
struct Coords {
  int t, tx, ty, tz;
  int64_t i, o;  // position along inner and outer (may be past the end)
};

__device__ inline Coords coords(int bx, int by, int bz, int64_t inner_blocks) {
  Coords c;
  c.t = static_cast<int>(threadIdx.x);
  c.tx = c.t % bx;
  c.ty = (c.t / bx) % by;
  c.tz = c.t / (bx * by);
  const int64_t b = blockIdx.x;
  c.i = (b % inner_blocks) * bx + c.tx;
  c.o = (b / inner_blocks) * bz + c.tz;
  return c;
}

// Folds v over the by threads of this thread's (tx, tz) column with f; every thread of the
// column gets the result. smem holds kBlock values of A. All threads of the block must call
// it (it synchronises).
template <class A, class F>
__device__ inline A reduce_y(A v, A* smem, const Coords& c, int bx, int by, F f) {
  smem[c.t] = v;
  __syncthreads();
  for (int s = by >> 1; s > 0; s >>= 1) {
    if (c.ty < s) smem[c.t] = f(smem[c.t], smem[c.t + s * bx]);
    __syncthreads();
  }
  const A r = smem[c.t - c.ty * bx];
  __syncthreads();  // smem may be reused at once
  return r;
}

// Typed views of one block-sized shared buffer (big enough for kBlock 16-byte values).
struct alignas(16) SharedBytes {
  unsigned char b[kBlock * 16];
};

template <class T>
__device__ inline T dexp(T x);
template <>
__device__ inline float dexp<float>(float x) {
  return expf(x);
}
template <>
__device__ inline double dexp<double>(double x) {
  return exp(x);
}

// NaN-propagating maximum; keeps a when neither is greater (the CPU's step order).
template <class T>
__device__ inline T max_nan(T a, T v) {
  return (v > a || v != v) ? v : a;
}

template <class T>
__device__ inline T lowest();
template <>
__device__ inline float lowest<float>() {
  return -__int_as_float(0x7f800000);
}
template <>
__device__ inline double lowest<double>() {
  return -__longlong_as_double(0x7ff0000000000000LL);
}
template <>
__device__ inline int64_t lowest<int64_t>() {
  return static_cast<int64_t>(0x8000000000000000ULL);
}

// ---- folding ops: identity, load (element -> accumulator), combine -----------------------

// Sums accumulate in A (double for float inputs, as the CPU kernels do).
template <class A>
struct SumOp {
  using Acc = A;
  __device__ static A identity() { return A(0); }
  template <class V>
  __device__ static A load(V v, int64_t) {
    return static_cast<A>(v);
  }
  __device__ static A combine(A a, A b) { return a + b; }
};

// NaN propagates (as the CPU's MaxOp).
template <class T>
struct MaxOp {
  using Acc = T;
  __device__ static T identity() { return lowest<T>(); }
  __device__ static T load(T v, int64_t) { return v; }
  __device__ static T combine(T a, T b) { return max_nan(a, b); }
};

// argmax: the first maximum; a NaN beats every number (the first NaN wins).
template <class T>
struct ArgAcc {
  T v;
  int64_t i;
};
template <class T>
struct ArgMaxOp {
  using Acc = ArgAcc<T>;
  __device__ static Acc identity() { return {lowest<T>(), INT64_MAX}; }
  __device__ static Acc load(T v, int64_t r) { return {v, r}; }
  __device__ static Acc load(Acc a, int64_t) { return a; }
  __device__ static Acc combine(Acc a, Acc b) {
    const bool an = a.v != a.v, bn = b.v != b.v;
    if (an || bn) {
      if (an && bn) return a.i <= b.i ? a : b;
      return an ? a : b;
    }
    if (a.v > b.v) return a;
    if (b.v > a.v) return b;
    return a.i <= b.i ? a : b;
  }
};

// ---- output conversions --------------------------------------------------------------------

template <class A>
struct KeepAcc {  // partial results: the accumulator itself
  using Out = A;
  __device__ A operator()(A a) const { return a; }
};

// Out(a), Out(a * s) (mode 1: mean, s = 1 / count) or Out(a / s) (mode 2).
template <class A, class O>
struct CastOut {
  using Out = O;
  int mode = 0;
  double s = 1.0;
  __device__ O operator()(A a) const {
    if constexpr (std::is_floating_point_v<A>) {
      if (mode == 1) return static_cast<O>(a * static_cast<A>(s));
      if (mode == 2) return static_cast<O>(a / static_cast<A>(s));
    }
    return static_cast<O>(a);
  }
};

template <class T>
struct IndexOut {
  using Out = int64_t;
  __device__ int64_t operator()(ArgAcc<T> a) const { return a.i; }
};

// ---- the (outer, R, inner) fold ------------------------------------------------------------

// out[(o * splits + s) * inner + i] = fin(fold of x[o, r, i] over r in split s's segment
// [s * seg, min(R, (s + 1) * seg))), with splits = gridDim.y. x: (outer, R, inner) contiguous.
template <class Op, class In, class Fin>
__global__ void __launch_bounds__(kBlock)
    reduce_kernel(const In* __restrict__ x, typename Fin::Out* __restrict__ out, int64_t outer,
                  int64_t R, int64_t inner, int64_t seg, int bx, int by, int bz,
                  int64_t inner_blocks, Fin fin) {
  using Acc = typename Op::Acc;
  __shared__ SharedBytes sh;
  Acc* smem = reinterpret_cast<Acc*>(sh.b);
  const Coords c = coords(bx, by, bz, inner_blocks);
  const bool valid = c.i < inner && c.o < outer;
  const int64_t split = blockIdx.y, splits = gridDim.y;
  const int64_t r0 = split * seg;
  const int64_t r1 = R < r0 + seg ? R : r0 + seg;
  Acc acc = Op::identity();
  if (valid) {
    const In* base = x + c.o * R * inner + c.i;
    for (int64_t r = r0 + c.ty; r < r1; r += by)
      acc = Op::combine(acc, Op::load(base[r * inner], r));
  }
  acc = reduce_y(acc, smem, c, bx, by, [](Acc a, Acc b) { return Op::combine(a, b); });
  if (valid && c.ty == 0) out[(c.o * splits + split) * inner + c.i] = fin(acc);
}

// out[i] = fin(identity) for n outputs (reductions over empty groups).
template <class Op, class Fin>
__global__ void fill_identity_kernel(typename Fin::Out* out, int64_t n, Fin fin) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = fin(Op::identity());
}

// Where and how reductions launch.
struct Launch {
  Device device;
  cudaStream_t stream;
  int sm_count;
};
inline Launch launch_for(const Tensor& t) {
  auto& ctx = cuda_backend::context_for(t);
  const int sms = ctx.props.multiProcessorCount > 0 ? ctx.props.multiProcessorCount : 108;
  return {t.device(), ctx.stream, sms};
}

inline unsigned grid_x(int64_t blocks, const char* op) {
  DUET_CHECK(blocks <= 0x7fffffff, op, ": ", blocks, " thread blocks exceed the CUDA grid limit");
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// out (outer, inner) = fin(fold over R of x (outer, R, inner)). When the output alone gives
// too few blocks to fill the GPU and R is long, R is split into segments folded by separate
// blocks into a scratch (outer, splits, inner) buffer, which a second pass folds. The split
// depends only on the shape and the device's SM count, so results are deterministic.
template <class Op, class In, class Fin>
void reduce_3d(const In* x, typename Fin::Out* out, int64_t outer, int64_t R, int64_t inner,
               const Fin& fin, const Launch& L, const char* op) {
  using Acc = typename Op::Acc;
  if (outer == 0 || inner == 0) return;
  const Layout l = layout(outer, R, inner);
  const int64_t target = 4 * static_cast<int64_t>(L.sm_count);
  int64_t splits = 1;
  if (l.blocks() < target && R >= static_cast<int64_t>(l.by) * 64) {
    splits = std::min<int64_t>((target + l.blocks() - 1) / l.blocks(),
                               R / (static_cast<int64_t>(l.by) * 16));
    splits = std::clamp<int64_t>(splits, 1, 65535);
  }
  const int64_t seg = std::max<int64_t>(1, (R + splits - 1) / splits);
  splits = std::max<int64_t>(1, (R + seg - 1) / seg);
  if (splits == 1) {
    reduce_kernel<Op, In, Fin><<<dim3(grid_x(l.blocks(), op), 1), kBlock, 0, L.stream>>>(
        x, out, outer, R, inner, std::max<int64_t>(R, 1), l.bx, l.by, l.bz, l.inner_blocks, fin);
    DUET_CUDA_CHECK_LAUNCH();
    return;
  }
  cuda_backend::Workspace part(static_cast<size_t>(outer * splits * inner) * sizeof(Acc), L.device);
  Acc* p = static_cast<Acc*>(part.data());
  reduce_kernel<Op, In, KeepAcc<Acc>>
      <<<dim3(grid_x(l.blocks(), op), static_cast<unsigned>(splits)), kBlock, 0, L.stream>>>(
          x, p, outer, R, inner, seg, l.bx, l.by, l.bz, l.inner_blocks, KeepAcc<Acc>{});
  DUET_CUDA_CHECK_LAUNCH();
  const Layout l2 = layout(outer, splits, inner);
  reduce_kernel<Op, Acc, Fin><<<dim3(grid_x(l2.blocks(), op), 1), kBlock, 0, L.stream>>>(
      p, out, outer, splits, inner, splits, l2.bx, l2.by, l2.bz, l2.inner_blocks, fin);
  DUET_CUDA_CHECK_LAUNCH();
}

}  // namespace duet::cuda_kernels::axis

// The generic CUDA elementwise launchers (nvcc only): out[i] = f(in_0[..], in_1[..], ...) over
// a contiguous output, one grid-stride loop per kernel.
//
//   struct AddF { template <class T> __device__ T operator()(T a, T b) const { return a + b; } };
//   ew::binary<T, T, T>(a, b, out, AddF{}, "add");   // numpy broadcasting, any input strides
//   ew::unary<T, T>(x, out, NegF{});                   // x contiguous, numel(x) == numel(out)
//
// Fast path: every input contiguous with the output's numel (same element order), flat index.
// Otherwise each input's strides as seen from the output shape (cuda_backend::broadcast_meta:
// 0 along broadcast axes) are merged where every input allows it, so (N, C, H, W) + (1,) runs
// as a rank-1 loop and (N, C) + (C,) as rank 2, and the offsets are computed per element.
//
// Elements are read before the same thread writes its own output element, so out may alias an
// input of the output's shape (the graph planner's in-place reuse).
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>

#include "cuda/runtime.h"
#include "duet/shape.h"

namespace duet::cuda_kernels {

// ---- device math: one overload set for float and double ----------------------------------
namespace dmath {
__device__ __forceinline__ float exp(float x) {
  return ::expf(x);
}
__device__ __forceinline__ double exp(double x) {
  return ::exp(x);
}
__device__ __forceinline__ float log(float x) {
  return ::logf(x);
}
__device__ __forceinline__ double log(double x) {
  return ::log(x);
}
__device__ __forceinline__ float log1p(float x) {
  return ::log1pf(x);
}
__device__ __forceinline__ double log1p(double x) {
  return ::log1p(x);
}
__device__ __forceinline__ float sqrt(float x) {
  return ::sqrtf(x);
}
__device__ __forceinline__ double sqrt(double x) {
  return ::sqrt(x);
}
__device__ __forceinline__ float abs(float x) {
  return ::fabsf(x);
}
__device__ __forceinline__ double abs(double x) {
  return ::fabs(x);
}
__device__ __forceinline__ float tanh(float x) {
  return ::tanhf(x);
}
__device__ __forceinline__ double tanh(double x) {
  return ::tanh(x);
}
__device__ __forceinline__ float erf(float x) {
  return ::erff(x);
}
__device__ __forceinline__ double erf(double x) {
  return ::erf(x);
}
__device__ __forceinline__ float pow(float x, float y) {
  return ::powf(x, y);
}
__device__ __forceinline__ double pow(double x, double y) {
  return ::pow(x, y);
}
}  // namespace dmath

namespace ew {

using cuda_backend::kMaxDims;
using cuda_backend::kThreads;

// Output sizes (merged) and, per input, its element strides along them.
template <int N>
struct IndexMeta {
  int rank = 0;
  bool small = false;  // numel < 2^32: index arithmetic in 32 bits (int64 division is slow)
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];
};

// Element offsets of flat (row-major) output index i in each input (host-callable for tests).
template <int N>
__host__ __device__ __forceinline__ void offsets(const IndexMeta<N>& m, int64_t i,
                                                 int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  if (m.small) {
    uint32_t j = static_cast<uint32_t>(i);
    for (int d = m.rank - 1; d >= 0; --d) {
      const uint32_t size = static_cast<uint32_t>(m.sizes[d]);
      const uint32_t idx = j % size;
      j /= size;
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += static_cast<int64_t>(idx) * m.strides[k][d];
    }
    return;
  }
  for (int d = m.rank - 1; d >= 0; --d) {
    const int64_t size = m.sizes[d];
    const int64_t idx = i % size;
    i /= size;
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += idx * m.strides[k][d];
  }
}

// Sets m.small from the number of elements the loop covers.
template <int N>
void set_small(IndexMeta<N>& m) {
  int64_t n = 1;
  for (int d = 0; d < m.rank; ++d) n *= m.sizes[d];
  m.small = n < (int64_t(1) << 32);
}

// Metadata for inputs broadcast to `out_shape` (rank <= kMaxDims), with size-1 axes dropped
// and adjacent axes merged where every input's strides allow it.
template <int N>
IndexMeta<N> make_meta(const Shape& out_shape, const std::array<const Tensor*, N>& inputs,
                       const char* op) {
  const int r = static_cast<int>(out_shape.size());
  cuda_backend::StridedMeta sm[N];
  for (int k = 0; k < N; ++k) {
    sm[k] = cuda_backend::broadcast_meta(*inputs[k], out_shape, op);
    DUET_ASSERT(sm[k].rank == r, op, ": broadcast_meta gave rank ", sm[k].rank, " for ", r);
  }
  IndexMeta<N> m;
  for (int d = 0; d < r; ++d) {
    const int64_t size = out_shape[d];
    if (size == 1) continue;
    if (m.rank > 0) {
      bool merge = true;  // outer stride == inner stride * inner size, for every input
      for (int k = 0; k < N; ++k)
        merge = merge && m.strides[k][m.rank - 1] == sm[k].strides[d] * size;
      if (merge) {
        m.sizes[m.rank - 1] *= size;
        for (int k = 0; k < N; ++k) m.strides[k][m.rank - 1] = sm[k].strides[d];
        continue;
      }
    }
    m.sizes[m.rank] = size;
    for (int k = 0; k < N; ++k) m.strides[k][m.rank] = sm[k].strides[d];
    ++m.rank;
  }
  set_small(m);
  return m;
}

// Metadata for one input of any strides (not broadcast) read in its own row-major order.
inline IndexMeta<1> strided_meta_of(const cuda_backend::StridedMeta& s) {
  IndexMeta<1> m;
  for (int d = 0; d < s.rank; ++d) {
    const int64_t size = s.sizes[d];
    if (size == 1) continue;
    if (m.rank > 0 && m.strides[0][m.rank - 1] == s.strides[d] * size) {
      m.sizes[m.rank - 1] *= size;
      m.strides[0][m.rank - 1] = s.strides[d];
      continue;
    }
    m.sizes[m.rank] = size;
    m.strides[0][m.rank] = s.strides[d];
    ++m.rank;
  }
  set_small(m);
  return m;
}

// ---- kernels ------------------------------------------------------------------------------

#define DUET_EW_LOOP(i, n)                                                               \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

template <class Out, class In, class F>
__global__ void map1_contig(int64_t n, const In* x, Out* y, F f) {
  DUET_EW_LOOP(i, n) y[i] = f(x[i]);
}

template <class Out, class In, class F>
__global__ void map1_strided(int64_t n, IndexMeta<1> m, const In* x, Out* y, F f) {
  DUET_EW_LOOP(i, n) {
    int64_t off[1];
    offsets(m, i, off);
    y[i] = f(x[off[0]]);
  }
}

template <class Out, class A, class B, class F>
__global__ void map2_contig(int64_t n, const A* a, const B* b, Out* y, F f) {
  DUET_EW_LOOP(i, n) y[i] = f(a[i], b[i]);
}

template <class Out, class A, class B, class F>
__global__ void map2_bcast(int64_t n, IndexMeta<2> m, const A* a, const B* b, Out* y, F f) {
  DUET_EW_LOOP(i, n) {
    int64_t off[2];
    offsets(m, i, off);
    y[i] = f(a[off[0]], b[off[1]]);
  }
}

template <class Out, class A, class B, class C, class F>
__global__ void map3_bcast(int64_t n, IndexMeta<3> m, const A* a, const B* b, const C* c, Out* y,
                           F f) {
  DUET_EW_LOOP(i, n) {
    int64_t off[3];
    offsets(m, i, off);
    y[i] = f(a[off[0]], b[off[1]], c[off[2]]);
  }
}

// ---- host launchers (on the output's device stream) --------------------------------------

template <class T>
const T* cptr(const Tensor& t) {
  return static_cast<const T*>(t.data_ptr());
}
template <class T>
T* mptr(const Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

// out = f(x); x contiguous with out's numel. Empty tensors launch nothing.
template <class In, class Out, class F>
void unary(const Tensor& x, const Tensor& out, F f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  cudaStream_t s = cuda_backend::stream_for(out);
  map1_contig<Out, In, F>
      <<<cuda_backend::blocks_for(n), kThreads, 0, s>>>(n, cptr<In>(x), mptr<Out>(out), f);
  DUET_CUDA_CHECK_LAUNCH();
}

// out = f(a, b) for a and b of out's numel, contiguous (e.g. an activation's backward op,
// whose infer requires equal shapes): the flat kernel only.
template <class A, class B, class Out, class F>
void binary_same_shape(const Tensor& a, const Tensor& b, const Tensor& out, F f, const char* op) {
  const int64_t n = out.numel();
  DUET_ASSERT(a.numel() == n && b.numel() == n && a.is_contiguous() && b.is_contiguous(), op,
              ": expected contiguous inputs of the output's size");
  if (n == 0) return;
  cudaStream_t s = cuda_backend::stream_for(out);
  map2_contig<Out, A, B, F><<<cuda_backend::blocks_for(n), kThreads, 0, s>>>(
      n, cptr<A>(a), cptr<B>(b), mptr<Out>(out), f);
  DUET_CUDA_CHECK_LAUNCH();
}

// out = f(a, b) with numpy broadcasting; a and b may have any strides.
template <class A, class B, class Out, class F>
void binary(const Tensor& a, const Tensor& b, const Tensor& out, F f, const char* op) {
  const int64_t n = out.numel();
  if (n == 0) return;
  cudaStream_t s = cuda_backend::stream_for(out);
  const unsigned blocks = cuda_backend::blocks_for(n);
  if (a.numel() == n && b.numel() == n && a.is_contiguous() && b.is_contiguous()) {
    map2_contig<Out, A, B, F>
        <<<blocks, kThreads, 0, s>>>(n, cptr<A>(a), cptr<B>(b), mptr<Out>(out), f);
  } else {
    const IndexMeta<2> m = make_meta<2>(out.shape(), {&a, &b}, op);
    map2_bcast<Out, A, B, F>
        <<<blocks, kThreads, 0, s>>>(n, m, cptr<A>(a), cptr<B>(b), mptr<Out>(out), f);
  }
  DUET_CUDA_CHECK_LAUNCH();
}

// out = f(a, b, c) with numpy broadcasting; any input strides.
template <class A, class B, class C, class Out, class F>
void ternary(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& out, F f,
             const char* op) {
  const int64_t n = out.numel();
  if (n == 0) return;
  cudaStream_t s = cuda_backend::stream_for(out);
  const IndexMeta<3> m = make_meta<3>(out.shape(), {&a, &b, &c}, op);
  map3_bcast<Out, A, B, C, F><<<cuda_backend::blocks_for(n), kThreads, 0, s>>>(
      n, m, cptr<A>(a), cptr<B>(b), cptr<C>(c), mptr<Out>(out), f);
  DUET_CUDA_CHECK_LAUNCH();
}

}  // namespace ew
}  // namespace duet::cuda_kernels

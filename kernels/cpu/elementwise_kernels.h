// Generic CPU loops for elementwise ops: unary maps and broadcasting binary maps.
//
//   unary_map<T, T>(x, out, [](T v) { return v > 0 ? v : T(0); });
//   binary_map<T, T>(a, b, out, [](T x, T y) { return x + y; });
#pragma once

#include <algorithm>

#include "core/parallel.h"
#include "duet/tensor.h"

namespace duet::cpu_kernels {

// Rows of at least this many elements run in parallel (parallel::parallel_for).
inline constexpr int64_t kParallelGrain = 1 << 15;

// out[i] = f(x[i]); x and out contiguous with equal numel.
template <class In, class Out, class F>
void unary_map(const Tensor& x, const Tensor& out, F f) {
  const In* px = static_cast<const In*>(x.data_ptr());
  Out* po = static_cast<Out*>(out.data_ptr());
  const int64_t n = out.numel();
  parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) po[i] = f(px[i]);
  });
}

// Strides of `t` seen from `out_shape` after broadcasting (0 along broadcast axes).
Shape broadcast_strides(const Tensor& t, const Shape& out_shape);

// out[i] = f(a[i'], b[i'']) with numpy broadcasting; a, b contiguous; out contiguous.
template <class In, class Out, class F>
void binary_map(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  const In* pa = static_cast<const In*>(a.data_ptr());
  const In* pb = static_cast<const In*>(b.data_ptr());
  Out* po = static_cast<Out*>(out.data_ptr());
  const int64_t n = out.numel();
  if (n == 0) return;
  const bool full_a = a.numel() == n, full_b = b.numel() == n;
  if (full_a && full_b) {
    parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) po[i] = f(pa[i], pb[i]);
    });
    return;
  }
  if (full_a && b.numel() == 1) {
    const In s = pb[0];
    parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) po[i] = f(pa[i], s);
    });
    return;
  }
  if (a.numel() == 1 && full_b) {
    const In s = pa[0];
    parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) po[i] = f(s, pb[i]);
    });
    return;
  }
  const Shape& os = out.shape();
  const int64_t r = static_cast<int64_t>(os.size());
  const Shape sa = broadcast_strides(a, os), sb = broadcast_strides(b, os);
  const int64_t inner = os[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  const int64_t rows = n / inner;
  parallel::parallel_for_if(n > kParallelGrain, 0, rows, [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      int64_t rem = row, oa = 0, ob = 0;
      for (int64_t d = r - 2; d >= 0; --d) {
        const int64_t idx = rem % os[d];
        rem /= os[d];
        oa += idx * sa[d];
        ob += idx * sb[d];
      }
      const In* ra = pa + oa;
      const In* rb = pb + ob;
      Out* ro = po + row * inner;
      for (int64_t j = 0; j < inner; ++j) ro[j] = f(ra[j * ia], rb[j * ib]);
    }
  });
}

}  // namespace duet::cpu_kernels

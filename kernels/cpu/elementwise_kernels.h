// Generic CPU loops for elementwise ops: unary maps and broadcasting binary maps.
//
//   unary_map<T, T>(x, out, [](T v) { return v > 0 ? v : T(0); });
//   binary_map<T, T>(a, b, out, [](T x, T y) { return x + y; });
#pragma once

#include <algorithm>
#include <vector>

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
  // Rows along the last axis. A chunk finds its first row's offsets once, then steps an
  // odometer over the outer axes (no division per row); the inner loop is a plain vector loop
  // when each input is contiguous or constant along the row (the blocked layout's (N, Cb, H, W,
  // 16) * (N, Cb, 1, 1, 16), a (C, 1) column against a (1, W) row, ...).
  const Shape& os = out.shape();
  const int64_t r = static_cast<int64_t>(os.size());
  const Shape sa = broadcast_strides(a, os), sb = broadcast_strides(b, os);
  const int64_t inner = os[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  const int64_t rows = n / inner;
  parallel::parallel_for_if(n > kParallelGrain, 0, rows, [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> idx(static_cast<size_t>(r), 0);  // row lo's index along each outer axis
    int64_t oa = 0, ob = 0;
    for (int64_t d = r - 2, rem = lo; d >= 0; --d) {
      idx[d] = rem % os[d];
      rem /= os[d];
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    for (int64_t row = lo; row < hi; ++row) {
      const In* ra = pa + oa;
      const In* rb = pb + ob;
      Out* ro = po + row * inner;
      if (ia == 1 && ib == 1) {
#pragma omp simd
        for (int64_t j = 0; j < inner; ++j) ro[j] = f(ra[j], rb[j]);
      } else if (ia == 1 && ib == 0) {
        const In y = rb[0];
#pragma omp simd
        for (int64_t j = 0; j < inner; ++j) ro[j] = f(ra[j], y);
      } else if (ia == 0 && ib == 1) {
        const In x = ra[0];
#pragma omp simd
        for (int64_t j = 0; j < inner; ++j) ro[j] = f(x, rb[j]);
      } else {
        for (int64_t j = 0; j < inner; ++j) ro[j] = f(ra[j * ia], rb[j * ib]);
      }
      for (int64_t d = r - 2; d >= 0; --d) {  // the next row's offsets
        oa += sa[d];
        ob += sb[d];
        if (++idx[d] < os[d]) break;
        oa -= sa[d] * os[d];
        ob -= sb[d] * os[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace duet::cpu_kernels

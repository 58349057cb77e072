// Pooling on the blocked layout (kernels/nchwc_kernels.h): max_pool2d_nchwc, avg_pool2d_nchwc,
// global_avg_pool_nchwc.
//
//   x (N, Cb, H, W, 16) -> y (N, Cb, OH, OW, 16); every 16-lane channel vector is independent
//
// Same semantics as the plain kernels (kernels/cpu/pool_kernels.cpp, geometry of
// kernels/geometry.h): windows clipped to the input; max: -inf padding, NaN propagates (the
// last NaN of the window in row-major order wins), an empty (dilated) window gives -inf; avg:
// the window summed in double in row-major order and divided by PyTorch's divisor (with
// count_include_pad the window up to the padded border, else the input elements only), so the
// result equals avg_pool2d's bit for bit; global: the mean over H x W, summed in double (in
// segments of 1024 pixels, so a large plane spreads over threads).
// Work items are (n, cb, output row); the float32 AVX-512 rows are in nchwc_pool_avx512.cpp,
// the generic rows below (the same arithmetic, 16 lanes in plain loops).
#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/nchwc_common.h"
#include "duet/error.h"
#include "geometry.h"

namespace duet::cpu_kernels {

namespace nchwc {
// nchwc_pool_avx512.cpp (float32, AVX-512 only). One output row y (OW, 16) of one (n, cb)
// plane x (H, W, 16): output ow reads rows ih = h0, h0 + dh, ... < h1 and columns
// iw = wlo[ow], wlo[ow] + dw, ... < whi[ow].
void max_pool_row_avx512(const float* x, int64_t W, int64_t h0, int64_t h1, int64_t dh,
                         const int64_t* wlo, const int64_t* whi, int64_t dw, int64_t OW, float* y);
// avg: rows [h0, h1), columns [wlo[ow], whi[ow]), y = sum / (hcount * wcount[ow]) (0 for an
// empty window).
void avg_pool_row_avx512(const float* x, int64_t W, int64_t h0, int64_t h1, const int64_t* wlo,
                         const int64_t* whi, double hcount, const double* wcount, int64_t OW,
                         float* y);
// sum (16 doubles) = the sum of the n vectors x (n, 16), in order.
void sum_pixels_avx512(const float* x, int64_t n, double* sum);
}  // namespace nchwc

namespace {

using nchwc::kB;

// The first of start, start + d, start + 2d, ... that is >= 0 (pool_kernels.cpp).
inline int64_t first_inside(int64_t start, int64_t d) {
  return start >= 0 ? start : start + (-start / d + (-start % d != 0)) * d;
}
// The next tap after i, stopping at end (i + d may not fit in int64: dilation 2^62).
inline int64_t next_tap(int64_t i, int64_t d, int64_t end) {
  return end - i > d ? i + d : end;
}

// One axis of the windows: output i reads lo[i], lo[i] + d, ... < hi[i]; count[i] is the
// average's divisor factor (pool_kernels.cpp avg_spans).
struct Axis {
  std::vector<int64_t> lo, hi;
  std::vector<double> count;
};
Axis max_axis(int64_t out, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  Axis a{std::vector<int64_t>(out), std::vector<int64_t>(out), {}};
  for (int64_t i = 0; i < out; ++i) {
    const int64_t start = i * s - p;
    a.lo[i] = first_inside(start, d);
    a.hi[i] = std::min(start + (k - 1) * d + 1, in);
  }
  return a;
}
Axis avg_axis(int64_t out, int64_t in, int64_t k, int64_t s, int64_t p, bool include_pad) {
  Axis a{std::vector<int64_t>(out), std::vector<int64_t>(out), std::vector<double>(out)};
  for (int64_t i = 0; i < out; ++i) {
    const int64_t start = i * s - p, end = std::min(start + k, in + p);
    a.lo[i] = std::max<int64_t>(start, 0);
    a.hi[i] = std::min(end, in);
    a.count[i] = static_cast<double>(include_pad ? end - start : a.hi[i] - a.lo[i]);
  }
  return a;
}

template <class T>
void max_row(const T* x, int64_t W, int64_t h0, int64_t h1, int64_t dh, const int64_t* wlo,
             const int64_t* whi, int64_t dw, int64_t OW, T* y) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    T acc[kB];
    for (int64_t l = 0; l < kB; ++l) acc[l] = -std::numeric_limits<T>::infinity();
    for (int64_t ih = h0; ih < h1; ih = next_tap(ih, dh, h1))
      for (int64_t iw = wlo[ow]; iw < whi[ow]; iw = next_tap(iw, dw, whi[ow])) {
        const T* v = x + (ih * W + iw) * kB;
#pragma omp simd
        for (int64_t l = 0; l < kB; ++l) {
          const bool take = (v[l] > acc[l]) || (v[l] != v[l]);
          acc[l] = take ? v[l] : acc[l];
        }
      }
    for (int64_t l = 0; l < kB; ++l) y[ow * kB + l] = acc[l];
  }
}

template <class T>
void avg_row(const T* x, int64_t W, int64_t h0, int64_t h1, const int64_t* wlo, const int64_t* whi,
             double hcount, const double* wcount, int64_t OW, T* y) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    double acc[kB] = {};
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = wlo[ow]; iw < whi[ow]; ++iw) {
        const T* v = x + (ih * W + iw) * kB;
#pragma omp simd
        for (int64_t l = 0; l < kB; ++l) acc[l] += v[l];
      }
    const bool empty = h0 >= h1 || wlo[ow] >= whi[ow];
    const double div = hcount * wcount[ow];
    for (int64_t l = 0; l < kB; ++l) y[ow * kB + l] = empty ? T(0) : static_cast<T>(acc[l] / div);
  }
}

template <class T>
void sum_pixels(const T* x, int64_t n, double* sum) {
  double acc[kB] = {};
  for (int64_t p = 0; p < n; ++p) {
#pragma omp simd
    for (int64_t l = 0; l < kB; ++l) acc[l] += x[p * kB + l];
  }
  for (int64_t l = 0; l < kB; ++l) sum[l] = acc[l];
}

// Pixels per partial sum of the global average pool: a plane (n, cb) of more pixels is summed
// in segments on several threads, the segments then added in order. The split depends on the
// shape only, so the result does not depend on the thread count.
constexpr int64_t kSegment = 1024;

struct Dims {
  int64_t N, Cb, H, W, OH, OW;
};
Dims dims(const KernelArgs& k) {
  const Shape& x = k.inputs[0].shape();
  const Shape& y = k.outputs[0].shape();
  return {x[0], x[1], x[2], x[3], y[2], y[3]};
}

// Calls row(x, y, oh, avx) for every (n, cb) plane and output row, in parallel when large
// enough: x the plane (H, W, 16), y the output row (OW, 16), both of the input's dtype; avx
// whether a float32 row may take the AVX-512 path.
template <class Row>
void for_each_row(const KernelArgs& k, const Dims& d, const char* op, const Row& row) {
  const int64_t rows = d.N * d.Cb * d.OH;
  const bool avx = nchwc::use_avx512(k.inputs[0].dtype());
  detail::dispatch_floating(k.inputs[0].dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* px = k.inputs[0].data<T>();
    T* py = k.outputs[0].data<T>();
    parallel::parallel_for_if(rows > 1 && rows * d.OW * kB > (1 << 14), 0, rows,
                              [&](int64_t lo, int64_t hi) {
                                for (int64_t r = lo; r < hi; ++r) {
                                  const int64_t plane = r / d.OH, oh = r % d.OH;
                                  row(px + plane * d.H * d.W * kB, py + r * d.OW * kB, oh, avx);
                                }
                              });
  });
}

// The plain pools' geometry on the logical (N, Cb * 16, H, W) -> (.., OH, OW) problem.
kernels::PoolGeom logical_geometry(const KernelArgs& k, const Dims& d) {
  return kernels::pool_geometry(k.attrs, {d.N, d.Cb * kB, d.H, d.W}, {d.N, d.Cb * kB, d.OH, d.OW});
}

}  // namespace

// x (N, Cb, H, W, 16); kernel, stride, padding, dilation, ceil_mode -> (N, Cb, OH, OW, 16)
void max_pool2d_nchwc(const KernelArgs& k) {
  const Dims d = dims(k);
  if (k.outputs[0].numel() == 0) return;  // (an empty output may have one huge axis)
  const kernels::PoolGeom g = logical_geometry(k, d);
  const Axis ha = max_axis(d.OH, d.H, g.kh, g.sh, g.ph, g.dh);
  const Axis wa = max_axis(d.OW, d.W, g.kw, g.sw, g.pw, g.dw);
  for_each_row(k, d, "max_pool2d_nchwc", [&](const auto* x, auto* y, int64_t oh, bool avx) {
    if constexpr (std::is_same_v<std::remove_cv_t<std::remove_pointer_t<decltype(x)>>, float>) {
      if (avx) {
        nchwc::max_pool_row_avx512(x, d.W, ha.lo[oh], ha.hi[oh], g.dh, wa.lo.data(), wa.hi.data(),
                                   g.dw, d.OW, y);
        return;
      }
    }
    max_row(x, d.W, ha.lo[oh], ha.hi[oh], g.dh, wa.lo.data(), wa.hi.data(), g.dw, d.OW, y);
  });
}

// x (N, Cb, H, W, 16); kernel, stride, padding, ceil_mode, count_include_pad
// -> (N, Cb, OH, OW, 16)
void avg_pool2d_nchwc(const KernelArgs& k) {
  const Dims d = dims(k);
  if (k.outputs[0].numel() == 0) return;
  const kernels::PoolGeom g = logical_geometry(k, d);
  const Axis ha = avg_axis(d.OH, d.H, g.kh, g.sh, g.ph, g.count_include_pad);
  const Axis wa = avg_axis(d.OW, d.W, g.kw, g.sw, g.pw, g.count_include_pad);
  for_each_row(k, d, "avg_pool2d_nchwc", [&](const auto* x, auto* y, int64_t oh, bool avx) {
    if constexpr (std::is_same_v<std::remove_cv_t<std::remove_pointer_t<decltype(x)>>, float>) {
      if (avx) {
        nchwc::avg_pool_row_avx512(x, d.W, ha.lo[oh], ha.hi[oh], wa.lo.data(), wa.hi.data(),
                                   ha.count[oh], wa.count.data(), d.OW, y);
        return;
      }
    }
    avg_row(x, d.W, ha.lo[oh], ha.hi[oh], wa.lo.data(), wa.hi.data(), ha.count[oh], wa.count.data(),
            d.OW, y);
  });
}

// x (N, Cb, H, W, 16) -> (N, Cb, 1, 1, 16), the mean over H x W
void global_avg_pool_nchwc(const KernelArgs& k) {
  const Shape& s = k.inputs[0].shape();
  const int64_t planes = s[0] * s[1], hw = s[2] * s[3];
  if (planes == 0) return;
  const int64_t segs = (hw + kSegment - 1) / kSegment, items = planes * segs;
  std::vector<double> part(static_cast<size_t>(items * kB));  // (planes, segs, 16)
  const bool avx = nchwc::use_avx512(k.inputs[0].dtype());
  detail::dispatch_floating(k.inputs[0].dtype(), "global_avg_pool_nchwc", [&](auto tag) {
    using T = decltype(tag);
    const T* px = k.inputs[0].data<T>();
    T* py = k.outputs[0].data<T>();
    parallel::parallel_for_if(items > 1 && planes * hw * kB > (1 << 15), 0, items,
                              [&](int64_t lo, int64_t hi) {
                                for (int64_t i = lo; i < hi; ++i) {
                                  const int64_t p = i / segs, p0 = (i % segs) * kSegment;
                                  const int64_t n = std::min(kSegment, hw - p0);
                                  const T* x = px + (p * hw + p0) * kB;
                                  double* sum = part.data() + i * kB;
                                  if constexpr (std::is_same_v<T, float>) {
                                    if (avx) {
                                      nchwc::sum_pixels_avx512(x, n, sum);
                                      continue;
                                    }
                                  }
                                  sum_pixels(x, n, sum);
                                }
                              });
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t l = 0; l < kB; ++l) {
        double acc = 0;
        for (int64_t j = 0; j < segs; ++j) acc += part[(p * segs + j) * kB + l];
        py[p * kB + l] = static_cast<T>(acc / static_cast<double>(hw));
      }
  });
}

}  // namespace duet::cpu_kernels

// The blocked layout's reorders (kernels/nchwc_kernels.h): to_nchwc, from_nchwc and
// nchwc_pack_weight.
//
//   to_nchwc:   x (N, C, H, W) -> y (N, Cb, H, W, 16), y[n][c / 16][h][w][c % 16] = x[n][c][h][w],
//               padding channels C .. Cb * 16 - 1 zero
//   from_nchwc: x (N, Cb, H, W, 16); channels C -> y (N, C, H, W), the inverse
//   nchwc_pack_weight: w (O, C, KH, KW) -> the packed formats "dense", "plain_input", "depthwise"
//
// The activation reorders run at every edge of a blocked region on every step: each (n, cb) is
// a transpose of a 16 x (H * W) tile, cut into runs of pixels so a small image with few blocks
// still spreads over the threads. The float32 path uses AVX-512 16 x 16 transposes
// (nchwc_reorder_avx512.cpp) when use_avx512(); the generic path is plain loops. Weight packing
// runs once per weight (hoisted out of the graph's steps): simple loops.
#include <algorithm>
#include <string>
#include <type_traits>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/nchwc_common.h"
#include "duet/error.h"

namespace duet::cpu_kernels {

namespace nchwc {
// nchwc_reorder_avx512.cpp (float32, AVX-512 only): `nc` (1..16) channel planes of `hw` pixels
// each, plane l at src + l * plane_stride, <-> a (hw, 16) tile; to: lanes nc..15 set to zero.
void to_nchwc_tile_avx512(const float* src, int64_t plane_stride, int64_t nc, int64_t hw,
                          float* dst);
void from_nchwc_tile_avx512(const float* src, int64_t nc, int64_t hw, float* dst,
                            int64_t plane_stride);
}  // namespace nchwc

namespace {

using nchwc::kB;

// Pixels per parallel work item (a 16 x kRun tile: 64 KiB of float32, both sides in L2).
constexpr int64_t kRun = 1024;
// Pixels per cache tile of the generic transpose (16 x 64 values: 4 KiB of float32).
constexpr int64_t kTile = 64;

// to: planes x[l * plane + p] (l < nc) -> tile y[p * 16 + l], lanes nc..15 zero, p < hw.
template <class T>
void to_tile(const T* x, int64_t plane, int64_t nc, int64_t hw, T* y) {
  for (int64_t p0 = 0; p0 < hw; p0 += kTile) {
    const int64_t p1 = std::min(hw, p0 + kTile);
    for (int64_t l = 0; l < nc; ++l) {
      const T* xs = x + l * plane;
#pragma omp simd
      for (int64_t p = p0; p < p1; ++p) y[p * kB + l] = xs[p];
    }
    for (int64_t l = nc; l < kB; ++l)
      for (int64_t p = p0; p < p1; ++p) y[p * kB + l] = T(0);
  }
}

// from: tile x[p * 16 + l] -> planes y[l * plane + p] (l < nc), p < hw.
template <class T>
void from_tile(const T* x, int64_t nc, int64_t hw, T* y, int64_t plane) {
  for (int64_t p0 = 0; p0 < hw; p0 += kTile) {
    const int64_t p1 = std::min(hw, p0 + kTile);
    for (int64_t l = 0; l < nc; ++l) {
      T* ys = y + l * plane;
#pragma omp simd
      for (int64_t p = p0; p < p1; ++p) ys[p] = x[p * kB + l];
    }
  }
}

// Calls f(n, cb, p0, p1) over every (n, cb) block and run of pixels [p0, p1), in parallel
// when the tensor is large enough for threads to pay.
template <class F>
void for_each_run(int64_t N, int64_t Cb, int64_t hw, const F& f) {
  const int64_t runs = std::max<int64_t>(1, (hw + kRun - 1) / kRun);
  const int64_t items = N * Cb * runs;
  parallel::parallel_for_if(items > 1 && N * Cb * hw * kB > (1 << 15), 0, items,
                            [&](int64_t lo, int64_t hi) {
                              for (int64_t i = lo; i < hi; ++i) {
                                const int64_t r = i % runs, nb = i / runs;
                                const int64_t p0 = r * kRun, p1 = std::min(hw, p0 + kRun);
                                f(nb / Cb, nb % Cb, p0, p1);
                              }
                            });
}

}  // namespace

// x (N, C, H, W) -> y (N, Cb, H, W, 16)
void to_nchwc(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  Tensor& y = k.outputs[0];
  const int64_t N = x.shape()[0], C = x.shape()[1], hw = x.shape()[2] * x.shape()[3];
  const int64_t Cb = y.shape()[1];
  if (y.numel() == 0) return;
  const bool avx = nchwc::use_avx512(x.dtype());
  detail::dispatch_floating(x.dtype(), "to_nchwc", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_run(N, Cb, hw, [&](int64_t n, int64_t cb, int64_t p0, int64_t p1) {
      const int64_t nc = std::min(kB, C - cb * kB);
      const T* xs = px + (n * C + cb * kB) * hw + p0;
      T* yd = py + ((n * Cb + cb) * hw + p0) * kB;
      if constexpr (std::is_same_v<T, float>) {
        if (avx) {
          nchwc::to_nchwc_tile_avx512(xs, hw, nc, p1 - p0, yd);
          return;
        }
      }
      to_tile(xs, hw, nc, p1 - p0, yd);
    });
  });
}

// x (N, Cb, H, W, 16); channels C -> y (N, C, H, W)
void from_nchwc(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  Tensor& y = k.outputs[0];
  const int64_t N = x.shape()[0], Cb = x.shape()[1], hw = x.shape()[2] * x.shape()[3];
  const int64_t C = y.shape()[1];
  if (y.numel() == 0) return;
  const bool avx = nchwc::use_avx512(x.dtype());
  detail::dispatch_floating(x.dtype(), "from_nchwc", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_run(N, Cb, hw, [&](int64_t n, int64_t cb, int64_t p0, int64_t p1) {
      const int64_t nc = std::min(kB, C - cb * kB);
      const T* xs = px + ((n * Cb + cb) * hw + p0) * kB;
      T* yd = py + (n * C + cb * kB) * hw + p0;
      if constexpr (std::is_same_v<T, float>) {
        if (avx) {
          nchwc::from_nchwc_tile_avx512(xs, nc, p1 - p0, yd, hw);
          return;
        }
      }
      from_tile(xs, nc, p1 - p0, yd, hw);
    });
  });
}

// w (O, C, KH, KW) -> "dense" (Ob, Cb, KH, KW, 16, 16) [ob][cb][kh][kw][ic % 16][oc % 16],
// "plain_input" (Ob, C, KH, KW, 16) [ob][c][kh][kw][oc % 16], "depthwise" (w (C, 1, KH, KW))
// (Cb, KH, KW, 16) [cb][kh][kw][c % 16]; every padded position zero.
void nchwc_pack_weight(const KernelArgs& k) {
  const Tensor& w = k.inputs[0];
  Tensor& y = k.outputs[0];
  const std::string& format = k.attrs.s("format");
  DUET_CHECK(format == "dense" || format == "plain_input" || format == "depthwise",
             "nchwc_pack_weight: format \"", format,
             "\" (expected \"dense\", \"plain_input\" or \"depthwise\")");
  const int64_t O = w.shape()[0], C = w.shape()[1], kk = w.shape()[2] * w.shape()[3];
  // One output block (16 output channels) per work item: its slice of y is contiguous.
  const int64_t Ob = y.shape()[0], per_block = y.numel() / std::max<int64_t>(Ob, 1);
  detail::dispatch_floating(w.dtype(), "nchwc_pack_weight", [&](auto tag) {
    using T = decltype(tag);
    const T* pw = w.data<T>();
    T* py = y.data<T>();
    parallel::parallel_for_if(Ob > 1 && y.numel() > (1 << 15), 0, Ob, [&](int64_t b0, int64_t b1) {
      for (int64_t ob = b0; ob < b1; ++ob) {
        T* yb = py + ob * per_block;
        std::fill(yb, yb + per_block, T(0));
        const int64_t o0 = ob * kB, no = std::min(kB, O - o0);
        if (format == "dense") {  // yb (Cb, kk, 16 ic, 16 oc)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t t = 0; t < kk; ++t) {
              T* d = yb + ((c / kB) * kk + t) * kB * kB + (c % kB) * kB;
              for (int64_t l = 0; l < no; ++l) d[l] = pw[((o0 + l) * C + c) * kk + t];
            }
        } else if (format == "plain_input") {  // yb (C, kk, 16 oc)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t t = 0; t < kk; ++t) {
              T* d = yb + (c * kk + t) * kB;
              for (int64_t l = 0; l < no; ++l) d[l] = pw[((o0 + l) * C + c) * kk + t];
            }
        } else {  // depthwise, w (O, 1, KH, KW): yb (kk, 16 c)
          for (int64_t t = 0; t < kk; ++t)
            for (int64_t l = 0; l < no; ++l) yb[t * kB + l] = pw[(o0 + l) * kk + t];
        }
      }
    });
  });
}

}  // namespace duet::cpu_kernels

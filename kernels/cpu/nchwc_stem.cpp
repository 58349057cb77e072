// conv2d_nchwc with format "plain_input" (kernels/nchwc_kernels.h): the network's first
// convolution, whose input keeps its plain layout because it has only a few channels (RGB), with
// conv2d_fused's epilogue (bias, residual, activation).
//
//   x (N, C, H, W), wp (Ob, C, KH, KW, 16) [, bias (O)] [, residual (N, Ob, OH, OW, 16)]
//     -> y (N, Ob, OH, OW, 16)
//
// The threads split the (n, oh) output rows. For a row, the KH input rows each tap reads are
// first copied into a zero-padded buffer xpad (C, KH, WP) (a few KB: C is small), so the row's
// kernel never clips a tap; then every output block's row is computed from it by the float32
// AVX-512 kernel (nchwc_stem_avx512.cpp) or the generic template (float32 without AVX-512,
// float64); activations the AVX-512 kernel does not apply in registers run on each stored row.
#include <algorithm>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/nchwc_common.h"
#include "cpu/nchwc_dw_stem_avx512.h"

namespace duet::cpu_kernels {
namespace {

using nchwc::DwGeom;
using nchwc::kB;

// xpad (C, KH, WP) for output row oh of image x (C, H, W): xpad[c][kh][j] = x[c][ih][j - pw]
// with ih = oh * sh - ph + kh * dh, zero outside x.
template <class T>
void fill_xpad(const DwGeom& g, int64_t c, const T* x, int64_t oh, int64_t wpad, T* xpad) {
  for (int64_t ci = 0; ci < c; ++ci) {
    for (int64_t kh = 0; kh < g.kh; ++kh) {
      T* dst = xpad + (ci * g.kh + kh) * wpad;
      const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
      if (ih < 0 || ih >= g.h) {
        std::fill_n(dst, wpad, T(0));
        continue;
      }
      // j in [j0, j1) = [pw, pw + W) (within the buffer) holds iw = j - pw; zeros around it.
      const int64_t j0 = std::min(wpad, g.pw), j1 = std::min(wpad, g.pw + g.w);
      std::fill_n(dst, j0, T(0));
      std::copy_n(x + (ci * g.h + ih) * g.w, j1 - j0, dst + j0);
      std::fill_n(dst + j1, wpad - j1, T(0));
    }
  }
}

// y[ob][oh] (OW, 16) for ob in [0, Ob) (see stem_row_avx512); every activation left to the
// caller.
template <class T>
void stem_row_generic(const DwGeom& g, int64_t c, const T* xpad, int64_t wpad, const T* wp,
                      int64_t ob_count, const T* bias, const T* res, T* y, int64_t oh) {
  const int64_t taps = g.kh * g.kw, row = g.ow * kB, plane = g.oh * row;
  for (int64_t ob = 0; ob < ob_count; ++ob) {
    const T* w = wp + ob * c * taps * kB;
    for (int64_t ow = 0; ow < g.ow; ++ow) {
      T acc[kB];
      for (int64_t l = 0; l < kB; ++l) acc[l] = bias[ob * kB + l];
      for (int64_t ci = 0; ci < c; ++ci) {
        for (int64_t kh = 0; kh < g.kh; ++kh) {
          const T* xr = xpad + (ci * g.kh + kh) * wpad + ow * g.sw;
          const T* wr = w + (ci * g.kh + kh) * g.kw * kB;
          for (int64_t kw = 0; kw < g.kw; ++kw) {
            const T xv = xr[kw * g.dw];
#pragma omp simd
            for (int64_t l = 0; l < kB; ++l) acc[l] += xv * wr[kw * kB + l];
          }
        }
      }
      const int64_t o = ob * plane + oh * row + ow * kB;
      for (int64_t l = 0; l < kB; ++l) y[o + l] = acc[l] + (res ? res[o + l] : T(0));
    }
  }
}

template <class T>
void stem(const KernelArgs& k, const DwGeom& g, const nchwc::Epilogue& e) {
  const Tensor& x = k.inputs[0];
  const int64_t n = x.shape()[0], c = x.shape()[1];
  const int64_t ob_count = k.inputs[1].shape()[0];
  const int64_t o = k.attrs.i("out_channels");
  size_t next = 2;
  const Tensor* bias = k.attrs.b("has_bias") ? &k.inputs[next++] : nullptr;
  const Tensor* res = k.attrs.b("has_residual") ? &k.inputs[next] : nullptr;
  std::vector<T> b16(static_cast<size_t>(ob_count * kB), T(0));  // (Ob, 16), zero-padded
  if (bias) std::copy_n(static_cast<const T*>(bias->data_ptr()), o, b16.begin());

  const T* px = static_cast<const T*>(x.data_ptr());
  const T* pw = static_cast<const T*>(k.inputs[1].data_ptr());
  const T* pr = res ? static_cast<const T*>(res->data_ptr()) : nullptr;
  T* py = static_cast<T*>(k.outputs[0].data_ptr());
  const int64_t wpad = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  const int64_t row = g.ow * kB, plane = g.oh * row, img = ob_count * plane;
  bool fast = false;
  if constexpr (std::is_same_v<T, float>) fast = nchwc::use_avx512(DType::float32);
  const int code = fast ? nchwc::avx512_act_code(e) : -1;
  const bool after = code < 0;  // activation on the stored rows

  const int64_t rows = n * g.oh;
  const int64_t row_macs = img / g.oh * c * g.kh * g.kw;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, row_macs));
  parallel::parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) {
    std::vector<T> xpad(static_cast<size_t>(c * g.kh * wpad));
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t oh = r % g.oh, ni = r / g.oh;
      fill_xpad<T>(g, c, px + ni * c * g.h * g.w, oh, wpad, xpad.data());
      const T* ri = pr ? pr + ni * img : nullptr;
      T* yi = py + ni * img;
      if constexpr (std::is_same_v<T, float>) {
        if (fast) {
          nchwc::stem_row_avx512(g, c, xpad.data(), wpad, pw, b16.data(), ri, yi, oh, 0, ob_count,
                                 after ? 0 : code);
        } else {
          stem_row_generic<T>(g, c, xpad.data(), wpad, pw, ob_count, b16.data(), ri, yi, oh);
        }
      } else {
        stem_row_generic<T>(g, c, xpad.data(), wpad, pw, ob_count, b16.data(), ri, yi, oh);
      }
      if (after)
        for (int64_t ob = 0; ob < ob_count; ++ob)
          nchwc::apply_activation(yi + ob * plane + oh * row, row, e);
    }
  });
}

}  // namespace

void nchwc::conv_plain_input(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Shape& wp = k.inputs[1].shape();
  const Epilogue e = parse_epilogue(k.attrs, "conv2d_nchwc");
  const auto& s = k.attrs.ints("stride");
  const auto& p = k.attrs.ints("padding");
  const auto& d = k.attrs.ints("dilation");
  const Shape& y = k.outputs[0].shape();
  const DwGeom g{x.shape()[2], x.shape()[3], y[2], y[3], wp[2], wp[3],
                 s[0],         s[1],         p[0], p[1], d[0],  d[1]};
  if (k.outputs[0].numel() == 0) return;
  detail::dispatch_floating(x.dtype(), "conv2d_nchwc",
                            [&](auto tag) { stem<decltype(tag)>(k, g, e); });
}

}  // namespace duet::cpu_kernels

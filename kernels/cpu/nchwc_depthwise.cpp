// depthwise_conv2d_nchwc (kernels/nchwc_kernels.h): one KH x KW filter per channel on blocked
// activations, with conv2d_fused's epilogue (bias, residual, activation) on each output row.
//
//   x (N, Cb, H, W, 16), wp (Cb, KH, KW, 16) [, bias (C)] [, residual (N, Cb, OH, OW, 16)]
//     -> y (N, Cb, OH, OW, 16)
//
// Every lane is an independent channel, so a row of 16-lane vectors is the natural unit: the
// threads split the (n, cb, oh) rows; a row runs the float32 AVX-512 kernel
// (nchwc_depthwise_avx512.cpp; on small maps and 5x5 kernels from a copy of the input planes
// with zero columns around them, so no pixel needs its taps clipped) or the generic template
// (float32 without AVX-512, float64). The AVX-512 kernel applies none, relu, relu6, sigmoid,
// silu and hardswish in registers; softplus (and every activation of the generic path) runs on
// the stored row. Padding lanes have zero weights and zero bias: they hold the residual's lanes
// after the activation, finite like the input.
#include <algorithm>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/nchwc_common.h"
#include "cpu/nchwc_dw_stem_avx512.h"
#include "geometry.h"

namespace duet::cpu_kernels {
namespace {

using nchwc::DwGeom;
using nchwc::kB;

// y_row (OW, 16) for output row oh of one block (see depthwise_row_avx512), activation left to
// the caller; relu / relu6 too (apply_activation).
template <class T>
void depthwise_row_generic(const DwGeom& g, const T* x, const T* wk, const T* bias16, const T* res,
                           T* y, int64_t oh) {
  const int64_t ih0 = oh * g.sh - g.ph;
  for (int64_t ow = 0; ow < g.ow; ++ow) {
    T acc[kB];
    for (int64_t l = 0; l < kB; ++l) acc[l] = bias16[l];
    const int64_t iw0 = ow * g.sw - g.pw;
    for (int64_t kh = 0; kh < g.kh; ++kh) {
      const int64_t ih = ih0 + kh * g.dh;
      if (ih < 0 || ih >= g.h) continue;
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        const int64_t iw = iw0 + kw * g.dw;
        if (iw < 0 || iw >= g.w) continue;
        const T* xv = x + (ih * g.w + iw) * kB;
        const T* wv = wk + (kh * g.kw + kw) * kB;
#pragma omp simd
        for (int64_t l = 0; l < kB; ++l) acc[l] += xv[l] * wv[l];
      }
    }
    T* yv = y + ow * kB;
    if (res) {
      for (int64_t l = 0; l < kB; ++l) yv[l] = acc[l] + res[ow * kB + l];
    } else {
      for (int64_t l = 0; l < kB; ++l) yv[l] = acc[l];
    }
  }
}

// The AVX-512 path reads a copy of each input plane with the left and right padding as zero
// columns when the border pixels (those with a tap left or right of the input, which the row
// kernel clips one at a time) are more than a tenth of the row: small maps (14x14, 7x7) and 5x5
// kernels. Then every pixel of a row is in a register run. The geometry of that copy: W the
// padded width, no padding along W.
bool pad_columns(const DwGeom& g) {
  const int64_t lo = std::min(g.ow, (g.pw + g.sw - 1) / g.sw);
  const int64_t last = g.w - 1 + g.pw - (g.kw - 1) * g.dw;
  const int64_t hi = std::max(lo, std::min(g.ow, last < 0 ? 0 : last / g.sw + 1));
  const int64_t border = lo + g.ow - hi;
  return border * 10 > g.ow && g.h * g.w <= 64 * 64;
}
DwGeom padded_geom(const DwGeom& g) {
  DwGeom p = g;
  p.w = std::max(g.pw + g.w, (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1);
  p.pw = 0;
  return p;
}

// Rows [ih0, ih1) of plane x (H, W, 16) into xp (H, WP, 16): W columns at [pw, pw + W), zeros
// around them.
void fill_padded_rows(const DwGeom& g, const DwGeom& p, const float* x, int64_t ih0, int64_t ih1,
                      float* xp) {
  for (int64_t ih = std::max<int64_t>(ih0, 0); ih < std::min(ih1, g.h); ++ih) {
    float* d = xp + ih * p.w * kB;
    std::fill_n(d, g.pw * kB, 0.f);
    std::copy_n(x + ih * g.w * kB, g.w * kB, d + g.pw * kB);
    std::fill_n(d + (g.pw + g.w) * kB, (p.w - g.pw - g.w) * kB, 0.f);
  }
}

template <class T>
void depthwise(const KernelArgs& k, const DwGeom& g, const nchwc::Epilogue& e) {
  const Tensor& x = k.inputs[0];
  const int64_t n = x.shape()[0], cb = x.shape()[1];
  const int64_t c = k.attrs.i("out_channels");
  size_t next = 2;
  const Tensor* bias = k.attrs.b("has_bias") ? &k.inputs[next++] : nullptr;
  const Tensor* res = k.attrs.b("has_residual") ? &k.inputs[next] : nullptr;
  // bias16[cb] (Cb, 16): the bias zero-padded to whole blocks.
  std::vector<T> b16(static_cast<size_t>(cb * kB), T(0));
  if (bias) std::copy_n(static_cast<const T*>(bias->data_ptr()), c, b16.begin());

  const T* px = static_cast<const T*>(x.data_ptr());
  const T* pw = static_cast<const T*>(k.inputs[1].data_ptr());
  const T* pr = res ? static_cast<const T*>(res->data_ptr()) : nullptr;
  T* py = static_cast<T*>(k.outputs[0].data_ptr());
  const int64_t plane = g.h * g.w * kB, oplane = g.oh * g.ow * kB, row = g.ow * kB;
  const int64_t taps = g.kh * g.kw;
  bool fast = false;
  if constexpr (std::is_same_v<T, float>) fast = nchwc::use_avx512(DType::float32);
  const int code = fast ? nchwc::avx512_act_code(e) : -1;
  const bool after = code < 0;  // activation on the stored row
  const bool padded = fast && pad_columns(g);
  const DwGeom gp = padded ? padded_geom(g) : g;

  const int64_t rows = n * cb * g.oh;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, row * taps));
  parallel::parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) {
    std::vector<T> xpad(padded ? static_cast<size_t>(g.h * gp.w * kB) : 0);
    // The chunk's rows as segments [oh0, oh1) of planes nb = n * Cb + cb.
    int64_t nb = lo / g.oh, oh0 = lo % g.oh;
    for (int64_t r = lo; r < hi; ++nb, oh0 = 0) {
      const int64_t oh1 = std::min(g.oh, oh0 + (hi - r));
      r += oh1 - oh0;
      const int64_t b = nb % cb;
      const T* xp = px + nb * plane;
      const T* wk = pw + b * taps * kB;
      const T* bias16 = b16.data() + b * kB;
      const T* rp = pr ? pr + nb * oplane : nullptr;
      T* yp = py + nb * oplane;
      if constexpr (std::is_same_v<T, float>) {
        if (fast) {
          if (padded) {  // the input rows of output rows [oh0, oh1)
            fill_padded_rows(g, gp, xp, oh0 * g.sh - g.ph,
                             (oh1 - 1) * g.sh - g.ph + (g.kh - 1) * g.dh + 1, xpad.data());
            xp = xpad.data();
          }
          nchwc::depthwise_rows_avx512(gp, xp, wk, bias16, rp, yp, oh0, oh1, after ? 0 : code);
          if (after) nchwc::apply_activation(yp + oh0 * row, (oh1 - oh0) * row, e);
          continue;
        }
      }
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        T* yr = yp + oh * row;
        depthwise_row_generic<T>(g, xp, wk, bias16, rp ? rp + oh * row : nullptr, yr, oh);
        nchwc::apply_activation(yr, row, e);
      }
    }
  });
}

}  // namespace

int nchwc::avx512_act_code(const Epilogue& e) {
  using kernels::Activation;
  switch (e.act) {
    case Activation::none:
      return kActNone;
    case Activation::relu:
      return kActRelu;
    case Activation::relu6:
      return kActRelu6;
    case Activation::sigmoid:
      return kActSigmoid;
    case Activation::silu:
      return kActSilu;
    case Activation::hardswish:
      return kActHardswish;
    default:
      return -1;
  }
}

void depthwise_conv2d_nchwc(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Shape& wp = k.inputs[1].shape();
  const nchwc::Epilogue e = nchwc::parse_epilogue(k.attrs, "depthwise_conv2d_nchwc");
  const auto& s = k.attrs.ints("stride");
  const auto& p = k.attrs.ints("padding");
  const auto& d = k.attrs.ints("dilation");
  const Shape& y = k.outputs[0].shape();
  const DwGeom g{x.shape()[2], x.shape()[3], y[2], y[3], wp[1], wp[2],
                 s[0],         s[1],         p[0], p[1], d[0],  d[1]};
  if (k.outputs[0].numel() == 0) return;
  detail::dispatch_floating(x.dtype(), "depthwise_conv2d_nchwc",
                            [&](auto tag) { depthwise<decltype(tag)>(k, g, e); });
}

}  // namespace duet::cpu_kernels

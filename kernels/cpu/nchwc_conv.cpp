// conv2d_nchwc's CPU kernel (kernels/nchwc_kernels.h), format "dense": x (N, Cb, H, W, 16),
// wp (Ob, Cb, KH, KW, 16i, 16o) [, bias (O)] [, residual (N, Ob, OH, OW, 16)]
//   -> y (N, Ob, OH, OW, 16) = act(conv(x, w) + bias + residual).
// Format "plain_input" goes to nchwc::conv_plain_input (nchwc_stem.cpp).
//
// The work is cut into units (output-channel group of 3 or 4 blocks, image, band of output
// rows, segment of a long row); duet's pool runs the units, each writing its own part of y, so
// the result does not depend on the number of threads. A unit runs the float32 AVX-512 kernel
// (nchwc_conv_avx512.cpp) when nchwc::use_avx512 says so, else the generic template below (the
// reference arithmetic, float64, CPUs without AVX-512). A 1x1 stride-1 unpadded conv is a
// GEMM over the pixels: it is run as one long row of H * W pixels cut into segments.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/parallel.h"
#include "cpu/nchwc_common.h"
#include "cpu/nchwc_conv_avx512.h"
#include "cpu/nchwc_dw_stem_avx512.h"  // avx512_act_code
#include "duet/error.h"

namespace duet::cpu_kernels {
namespace {

using nchwc::DenseConv;
using nchwc::kB;

constexpr int64_t kSegment = 96;  // pixels per unit of a 1x1 conv's long row

// First kernel tap k in [0, K) whose input coordinate i0 + k d is >= 0, and one past the last
// that is < size.
void tap_range(int64_t i0, int64_t d, int64_t k, int64_t size, int64_t& lo, int64_t& hi) {
  lo = i0 >= 0 ? 0 : (-i0 + d - 1) / d;
  hi = size - 1 - i0 < 0 ? 0 : std::min(k, (size - 1 - i0) / d + 1);
  if (hi < lo) hi = lo;
}

// y[n][ob][oh][ow .. ow + PB): PB pixels whose taps are the columns [kw0, kw1) and rows
// [kh0, kh1); plain loops over channel vectors (the compiler vectorizes the 16 output channels),
// bias and residual (the activation is the caller's).
template <class T, int PB>
void conv_dense_generic_pixels(const DenseConv<T>& g, int64_t n, int64_t ob, int64_t oh, int64_t ow,
                               int64_t kh0, int64_t kh1, int64_t kw0, int64_t kw1) {
  const int64_t ih0 = oh * g.sh - g.ph, iw0 = ow * g.sw - g.pw;
  const int64_t w_cb = g.kh * g.kw * kB * kB, y_ob = g.oh * g.ow * kB, px = g.sw * kB;
  const T* wob = g.w + ob * g.cb * w_cb;
  T acc[PB][kB] = {};
  for (int64_t cb = 0; cb < g.cb; ++cb)
    for (int64_t kh = kh0; kh < kh1; ++kh)
      for (int64_t kw = kw0; kw < kw1; ++kw) {
        const T* xp =
            g.x + ((n * g.cb + cb) * g.h + ih0 + kh * g.dh) * g.w_ * kB + (iw0 + kw * g.dw) * kB;
        const T* wp = wob + ((cb * g.kh + kh) * g.kw + kw) * kB * kB;
        for (int64_t ic = 0; ic < kB; ++ic) {
          const T* wr = wp + ic * kB;
          for (int p = 0; p < PB; ++p) {
            const T xv = xp[p * px + ic];
#pragma omp simd
            for (int64_t oc = 0; oc < kB; ++oc) acc[p][oc] += xv * wr[oc];
          }
        }
      }
  for (int p = 0; p < PB; ++p) {
    const int64_t yo = (n * g.ob + ob) * y_ob + (oh * g.ow + ow + p) * kB;
    for (int64_t oc = 0; oc < kB; ++oc) {
      T v = acc[p][oc];
      if (g.bias) v += g.bias[ob * kB + oc];
      if (g.residual) v += g.residual[yo + oc];
      g.y[yo + oc] = v;
    }
  }
}

// y[n][ob0 .. ob0 + nob)[oh][ow0 .. ow1): blocks of 4 pixels where every tap lies inside the
// row, single pixels (taps clipped) elsewhere.
template <class T>
void conv_dense_generic_row(const DenseConv<T>& g, int64_t n, int64_t ob0, int64_t nob, int64_t oh,
                            int64_t ow0, int64_t ow1) {
  constexpr int kPixels = 4;
  int64_t kh0, kh1;
  tap_range(oh * g.sh - g.ph, g.dh, g.kh, g.h, kh0, kh1);
  for (int64_t ob = ob0; ob < ob0 + nob; ++ob) {
    for (int64_t ow = ow0; ow < ow1;) {
      int64_t kw0, kw1, lo, hi;
      tap_range(ow * g.sw - g.pw, g.dw, g.kw, g.w_, kw0, kw1);
      const int64_t last = ow + kPixels - 1;
      tap_range(last * g.sw - g.pw, g.dw, g.kw, g.w_, lo, hi);
      if (last < ow1 && kw0 == 0 && kw1 == g.kw && lo == 0 && hi == g.kw) {
        conv_dense_generic_pixels<T, kPixels>(g, n, ob, oh, ow, kh0, kh1, 0, g.kw);
        ow += kPixels;
      } else {
        conv_dense_generic_pixels<T, 1>(g, n, ob, oh, ow, kh0, kh1, kw0, kw1);
        ++ow;
      }
    }
  }
}

template <class T>
void conv_dense(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Tensor& wp = k.inputs[1];
  Tensor& y = k.outputs[0];
  const Attrs& a = k.attrs;
  const nchwc::Epilogue e = nchwc::parse_epilogue(a, "conv2d_nchwc");
  const bool fast = nchwc::use_avx512(y.dtype());
  const Shape& xs = x.shape();
  const Shape& ws = wp.shape();
  const Shape& ys = y.shape();
  const auto& st = a.ints("stride");
  const auto& pd = a.ints("padding");
  const auto& dl = a.ints("dilation");

  DenseConv<T> g;
  g.x = x.data<T>();
  g.w = wp.data<T>();
  g.y = y.data<T>();
  g.n = xs[0];
  g.cb = xs[1];
  g.h = xs[2];
  g.w_ = xs[3];
  g.ob = ys[1];
  g.oh = ys[2];
  g.ow = ys[3];
  g.kh = ws[2];
  g.kw = ws[3];
  g.sh = st[0];
  g.sw = st[1];
  g.ph = pd[0];
  g.pw = pd[1];
  g.dh = dl[0];
  g.dw = dl[1];
  if (g.n == 0 || g.ob == 0 || g.oh == 0 || g.ow == 0) return;

  size_t next = 2;
  std::vector<T> bias;  // (Ob * 16), zero-padded
  if (a.b("has_bias")) {
    const Tensor& b = k.inputs[next++];
    const int64_t o = b.shape()[0];
    bias.assign(static_cast<size_t>(g.ob * kB), T(0));
    std::copy(b.data<T>(), b.data<T>() + o, bias.begin());
    g.bias = bias.data();
  }
  if (a.b("has_residual")) g.residual = k.inputs[next].data<T>();
  // The AVX-512 tiles apply the activation in registers where nchwc_act_avx512.h has it.
  const int code = fast ? nchwc::avx512_act_code(e) : -1;
  if (code >= 0) g.act = code;
  const bool act_after = e.act != kernels::Activation::none && code < 0;

  // A 1x1 stride-1 unpadded conv: one long row of pixels.
  if (g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0) {
    g.w_ = g.h * g.w_;
    g.ow = g.oh * g.ow;
    g.h = g.oh = 1;
  }
  // Units: (output-channel group, image, band of rows, segment of the band's columns). When the
  // weights outweigh an image's input, the group is outermost (a thread's consecutive units
  // share weights), else innermost (they share the input band). A band holds >= 48
  // pixels where the rows are short (the weights of an input chunk stay in L1 for them all);
  // a 1x1 conv's long row is cut into segments of kSegment pixels.
  const bool long_row = g.kh == 1 && g.kw == 1 && g.oh == 1;
  const int64_t seg = long_row ? std::min(kSegment, g.ow) : g.ow;
  const int64_t segs = (g.ow + seg - 1) / seg;
  const int64_t band = std::min(g.oh, std::max<int64_t>(1, (48 + g.ow - 1) / g.ow));
  const int64_t bands = (g.oh + band - 1) / band;
  // Output blocks per unit (the AVX-512 tile: 4 blocks x 6 pixels, 3 x 8): 3 for rows of 7 or
  // 8 pixels (one tile per row instead of two; measured 5-10% faster on ResNet's 7x7 layers).
  const int64_t group = !long_row && g.ow > 6 && g.ow <= 8 ? 3 : 4;
  const int64_t groups = (g.ob + group - 1) / group;
  const int64_t units = groups * g.n * bands * segs;
  // Units of about 64K multiply-adds or more are worth a thread each.
  const int64_t unit_macs = std::min(group, g.ob) * kB * kB * g.cb * g.kh * g.kw * seg * band;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(unit_macs, 1));
  const int64_t y_ob = g.oh * g.ow * kB;
  const bool group_outer = g.ob * g.cb * g.kh * g.kw * kB > g.cb * g.h * g.w_;
  parallel::parallel_for(0, units, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t u = lo; u < hi; ++u) {
      int64_t r = u;
      int64_t grp = 0;
      if (!group_outer) {
        grp = r % groups;
        r /= groups;
      }
      const int64_t s = r % segs;
      r /= segs;
      const int64_t oh0 = (r % bands) * band, oh1 = std::min(g.oh, oh0 + band);
      r /= bands;
      const int64_t n = r % g.n;
      if (group_outer) grp = r / g.n;
      const int64_t ob0 = grp * group, nob = std::min(group, g.ob - ob0);
      const int64_t ow0 = s * seg, ow1 = std::min(g.ow, ow0 + seg);
      bool done = false;
      if constexpr (std::is_same_v<T, float>) {
        if (fast) {
          nchwc::conv_dense_avx512(g, n, ob0, nob, oh0, oh1, ow0, ow1);
          done = true;
        }
      }
      if (!done)
        for (int64_t oh = oh0; oh < oh1; ++oh) conv_dense_generic_row(g, n, ob0, nob, oh, ow0, ow1);
      if (act_after)
        for (int64_t ob = ob0; ob < ob0 + nob; ++ob)
          for (int64_t oh = oh0; oh < oh1; ++oh)
            nchwc::apply_activation(g.y + (n * g.ob + ob) * y_ob + (oh * g.ow + ow0) * kB,
                                    (ow1 - ow0) * kB, e);
    }
  });
}

}  // namespace

void conv2d_nchwc(const KernelArgs& k) {
  if (k.attrs.s("format") == "plain_input") {
    nchwc::conv_plain_input(k);
    return;
  }
  switch (k.outputs[0].dtype()) {
    case DType::float32:
      conv_dense<float>(k);
      return;
    case DType::float64:
      conv_dense<double>(k);
      return;
    default:
      throw Error(detail::cat("conv2d_nchwc: dtype ", dtype_name(k.outputs[0].dtype()),
                              " (expected float32 or float64)"));
  }
}

}  // namespace duet::cpu_kernels

// Shape arithmetic shared by the shape rules (src/ops), the CPU kernels and the CUDA kernels
// (host code only, so .cu files can include it): which axes a reduction reduces and how it
// groups them, how a softmax-style op splits around its axis, a pooling problem's window
// geometry, a convolution's geometry and output size.
//
//   const std::vector<bool> mask = kernels::reduced_axes_mask(x.shape, {1, -1}, "sum");
//   const kernels::ConvGeom g = kernels::conv_geom(x.shape, w.shape, attrs);  // g.oh, g.ow
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "duet/attrs.h"
#include "duet/error.h"
#include "duet/shape.h"

namespace duet::kernels {

// Which axes of `shape` `axes` names (empty: all; negative counts from the end). Throws
// duet::Error naming `op` and `shape` for an axis out of range or repeated.
inline std::vector<bool> reduced_axes_mask(const Shape& shape, const std::vector<int64_t>& axes,
                                           const char* op) {
  const int64_t r = static_cast<int64_t>(shape.size());
  DUET_CHECK(r > 0 || axes.empty(), op, ": axes ", shape_str(axes),
             " given for a 0-d tensor (expected no axes)");
  std::vector<bool> mask(r, axes.empty());
  for (int64_t a : axes) {
    DUET_CHECK(a >= -r && a < r, op, ": axis ", a, " is out of range for a tensor of shape ",
               shape_str(shape), " (expected ", -r, " <= axis < ", r, ")");
    const int64_t n = a < 0 ? a + r : a;
    DUET_CHECK(!mask[n], op, ": axis ", a, " repeats an axis in ", shape_str(axes),
               " for a tensor of shape ", shape_str(shape), " (expected distinct axes)");
    mask[n] = true;
  }
  return mask;
}

// A run of adjacent axes that are all kept or all reduced.
struct AxisGroup {
  int64_t size;
  bool reduced;
};

// shape's axes merged into runs by mask[d] (true: reduced); size-1 axes are dropped.
inline std::vector<AxisGroup> coalesce_axes(const Shape& shape, const std::vector<bool>& mask) {
  std::vector<AxisGroup> g;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!g.empty() && g.back().reduced == mask[d]) {
      g.back().size *= shape[d];
    } else {
      g.push_back({shape[d], static_cast<bool>(mask[d])});
    }
  }
  return g;
}

// shape as (outer, C, inner) around `axis` (negative counts from the end; `op` names the op
// in the error for an axis out of range).
struct AxisSplit {
  int64_t outer = 1, C = 1, inner = 1;
};
inline AxisSplit split_at_axis(const Shape& s, int64_t axis_attr, const char* op) {
  const int64_t axis = normalize_axis(axis_attr, static_cast<int64_t>(s.size()), op);
  AxisSplit r;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    if (d < axis) r.outer *= s[d];
    if (d == axis) r.C = s[d];
    if (d > axis) r.inner *= s[d];
  }
  return r;
}

// One pooling problem: `planes` independent (H, W) -> (OH, OW) maps.
struct PoolGeom {
  int64_t planes = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  bool count_include_pad = true;
};

// in: (P..., H, W), out: (P..., OH, OW); attrs may lack the window (adaptive pooling).
inline PoolGeom pool_geometry(const Attrs& at, const Shape& in, const Shape& out) {
  PoolGeom g;
  const size_t r = in.size();
  g.H = in[r - 2];
  g.W = in[r - 1];
  g.OH = out[r - 2];
  g.OW = out[r - 1];
  g.planes = 1;
  for (size_t i = 0; i + 2 < r; ++i) g.planes *= in[i];
  if (at.has("kernel")) {
    g.kh = at.ints("kernel")[0], g.kw = at.ints("kernel")[1];
    g.sh = at.ints("stride")[0], g.sw = at.ints("stride")[1];
    g.ph = at.ints("padding")[0], g.pw = at.ints("padding")[1];
  }
  if (at.has("dilation")) g.dh = at.ints("dilation")[0], g.dw = at.ints("dilation")[1];
  g.count_include_pad = at.b("count_include_pad", true);
  return g;
}

// One 2-D convolution: x (N, C, H, W), w (O, C / groups, KH, KW) -> y (N, O, OH, OW);
// attrs: stride, padding, dilation (2 ints each), groups.
struct ConvGeom {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input (N, C, H, W)
  int64_t o = 0, kh = 0, kw = 0;       // weight (O, C / groups, KH, KW)
  int64_t oh = 0, ow = 0;              // output (N, O, OH, OW)
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;

  int64_t cg() const { return c / groups; }
  int64_t og() const { return o / groups; }
  int64_t kg() const { return cg() * kh * kw; }  // GEMM inner size per group
  int64_t hw() const { return h * w; }
  int64_t ohw() const { return oh * ow; }
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  bool depthwise() const { return cg() == 1 && groups > 1; }
};

// The output length of a sliding window along one axis, conv and pooling alike (PyTorch's
// formula): floor((in + 2p - d (k - 1) - 1 + (ceil_mode ? s - 1 : 0)) / s) + 1, where with
// ceil_mode the last window must start inside the input or the left padding; 0 when that is
// <= 0 (the dilated kernel is larger than the padded input). Checked: throws duet::Error
// naming `op` unless in >= 0, k >= 1, s >= 1, p >= 0, d >= 1 and both in + 2p and
// d (k - 1) + 1 fit in int64; then every position a kernel computes from the result
// (o * s - p + j * d for o < out, j < k) fits too.
inline int64_t window_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d,
                               bool ceil_mode, const char* op) {
  DUET_CHECK(in >= 0 && k >= 1 && s >= 1 && p >= 0 && d >= 1, op, ": window of size ", k,
             ", stride ", s, ", padding ", p, ", dilation ", d, " over an axis of size ", in,
             " (expected kernel >= 1, stride >= 1, padding >= 0, dilation >= 1, size >= 0)");
  int64_t padded = 0, span = 0;
  const bool overflow =
      __builtin_mul_overflow(p, 2, &padded) || __builtin_add_overflow(padded, in, &padded) ||
      __builtin_mul_overflow(d, k - 1, &span) || __builtin_add_overflow(span, 1, &span);
  DUET_CHECK(!overflow, op, ": window of size ", k, ", padding ", p, ", dilation ", d,
             " over an axis of size ", in,
             " overflows int64 (expected size + 2 * padding and dilation * (kernel - 1) + 1 to "
             "fit in int64)");
  const int64_t room = padded - span;  // how far the window moves; both terms are >= 0
  int64_t out = 0;
  if (room >= 0) {
    out = room / s + 1 + (ceil_mode && room % s != 0 ? 1 : 0);
  } else if (ceil_mode) {  // floor((room + s - 1) / s) + 1; no overflow: room < 0 < s
    const int64_t num = room + (s - 1);
    out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
  }
  if (ceil_mode && out >= 1) {
    int64_t last_start = 0;
    if (__builtin_mul_overflow(out - 1, s, &last_start) || last_start >= in + p) --out;
  }
  return out < 0 ? 0 : out;
}

// PyTorch's conv output size: floor((in + 2p - d (k - 1) - 1) / s) + 1, or 0 when the kernel is
// larger than the padded input; checked as window_out_size.
inline int64_t conv_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d,
                             const char* op = "conv2d") {
  return window_out_size(in, k, s, p, d, false, op);
}

inline ConvGeom conv_geom(const Shape& x, const Shape& w, const Attrs& attrs) {
  ConvGeom g;
  g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
  g.o = w[0], g.kh = w[2], g.kw = w[3];
  const auto& s = attrs.ints("stride");
  const auto& p = attrs.ints("padding");
  const auto& d = attrs.ints("dilation");
  g.sh = s[0], g.sw = s[1], g.ph = p[0], g.pw = p[1], g.dh = d[0], g.dw = d[1];
  g.groups = attrs.i("groups");
  g.oh = conv_out_size(g.h, g.kh, g.sh, g.ph, g.dh);
  g.ow = conv_out_size(g.w, g.kw, g.sw, g.pw, g.dw);
  return g;
}

}  // namespace duet::kernels

// Shape arithmetic shared by the CPU and CUDA kernels (host code only, so .cu files can
// include it): how a reduction groups its axes, how a softmax-style op splits around its
// axis, and a pooling problem's window geometry.
#pragma once

#include <cstdint>
#include <vector>

#include "duet/attrs.h"
#include "duet/shape.h"

namespace duet::kernels {

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

}  // namespace duet::kernels

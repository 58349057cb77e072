// CPU kernels for 2-D convolution (NCHW, OIHW): forward, backward wrt input, backward wrt weight.
//
// GEMM path: im2col + Eigen GEMM (col2im for the input gradient), in chunks whose column
// buffer stays in cache; chunks run in parallel (one single-threaded GEMM per thread) when
// there are enough of them, else one after another with each GEMM split over the threads.
// Stride-1 convs shift rows instead of a full im2col (see conv_kernels.cpp). Pointwise
// convs (1x1, stride 1, no padding) skip im2col; depthwise convs (one input channel per
// group) use direct loops.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/op_def.h"

namespace duet::cpu_kernels {

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

// PyTorch's output size: floor((in + 2p - d (k - 1) - 1) / s) + 1 (may be <= 0: invalid).
inline int64_t conv_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  const int64_t span = in + 2 * p - d * (k - 1) - 1;
  return span < 0 ? 0 : span / s + 1;
}
ConvGeom conv_geom(const Shape& x, const Shape& w, const Attrs& attrs);

enum class ConvPass { forward, backward_input, backward_weight };
// Scratch bytes the kernel of `pass` uses for geometry g (im2col / shifted-input buffers per
// thread, regrouped weights, weight-gradient accumulators); elem: 4 or 8. The kernels take it
// from KernelArgs::workspace when that is large enough, else from thread-local buffers.
size_t conv_workspace_bytes(const ConvGeom& g, size_t elem, ConvPass pass);

// inputs: x (N, C, H, W), w (O, C/g, KH, KW) [, b (O)] -> y (N, O, OH, OW)
void conv2d(const KernelArgs& k);
// inputs: grad_out (N, O, OH, OW), w; attrs input_shape -> grad_x (N, C, H, W)
void conv2d_backward_input(const KernelArgs& k);
// inputs: grad_out (N, O, OH, OW), x (N, C, H, W); attrs weight_shape -> grad_w (O, C/g, KH, KW)
void conv2d_backward_weight(const KernelArgs& k);

}  // namespace duet::cpu_kernels

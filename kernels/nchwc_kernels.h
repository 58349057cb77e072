// Kernels of the blocked-channel (nChw16c) ops (src/ops/nchwc_ops.cpp), CPU only: the graph's
// layout pass (src/graph/pass_nchwc_layout.cpp) rewrites eval graphs on the CPU to run
// convolutions, pooling and elementwise chains on blocked activations, with the weights packed
// once (hoisted) into the layouts below. Eager mode never sees these ops.
//
//   // x (1, 64, 56, 56) plain -> xb (1, 4, 56, 56, 16), w (64, 64, 3, 3) -> wp packed once
//   Tensor xb = call_op1(to_nchwc_op(), {x});
//   Tensor wp = call_op1(nchwc_pack_weight_op(), {w}, Attrs().set("format", "dense")...);
//   Tensor yb = call_op1(conv2d_nchwc_op(), {xb, wp, b}, conv attrs + activation ...);
//   Tensor y = call_op1(from_nchwc_op(), {yb}, Attrs().set("channels", int64_t{64}));
//
// Layouts (B = 16 channels per block, Cb = ceil(C / B), Ob = ceil(O / B)):
//   activation nChw16c (N, Cb, H, W, B): channel c of pixel (h, w) at [n][c / B][h][w][c % B].
//     Channels C .. Cb * B - 1 are padding: finite values (zero after to_nchwc; a kernel may
//     leave anything finite there, e.g. sigmoid(0) = 0.5). Kernels never let a padded input
//     channel change a real output channel: packed weights are zero there and consumers that
//     reduce over channels skip them.
//   packed weights (nchwc_pack_weight, attr format):
//     "dense"       w (O, C, KH, KW), groups 1, blocked input:
//                   (Ob, Cb, KH, KW, B, B) [ob][cb][kh][kw][ic % B][oc % B], zero-padded
//     "plain_input" w (O, C, KH, KW), groups 1, input kept plain (N, C, H, W) (the stem: C <= 4):
//                   (Ob, C, KH, KW, B) [ob][c][kh][kw][oc % B], zero-padded
//     "depthwise"   w (C, 1, KH, KW), groups == C == O, blocked input:
//                   (Cb, KH, KW, B) [cb][kh][kw][c % B], zero-padded
//
// Ops (inputs; attrs -> output):
//   to_nchwc(x (N, C, H, W)) -> (N, Cb, H, W, B), padding channels zero
//   from_nchwc(x (N, Cb, H, W, B); channels C) -> (N, C, H, W)
//   nchwc_pack_weight(w; format) -> the packed layout above
//   conv2d_nchwc(x, wp [, bias (O)] [, residual (N, Ob, OH, OW, B)];
//                stride, padding, dilation, groups (1), format ("dense" | "plain_input"),
//                out_channels O, activation (+ its attrs), has_bias, has_residual)
//       x (N, Cb, H, W, B) for "dense", (N, C, H, W) for "plain_input" -> (N, Ob, OH, OW, B)
//       y = activation(conv(x, w) + bias + residual): the epilogue of conv2d_fused, in the
//       same order (bias, residual, activation), applied to each tile while it is in cache
//   depthwise_conv2d_nchwc(x (N, Cb, H, W, B), wp (Cb, KH, KW, B) [, bias (C)] [, residual];
//                          stride, padding, dilation, groups (= C), out_channels (= C),
//                          activation (+ attrs), has_bias, has_residual) -> (N, Cb, OH, OW, B)
//   max_pool2d_nchwc(x (N, Cb, H, W, B); max_pool2d's attrs: kernel, stride, padding,
//                    dilation, ceil_mode) -> (N, Cb, OH, OW, B)
//   avg_pool2d_nchwc(x; avg_pool2d's attrs: kernel, stride, padding, ceil_mode,
//                    count_include_pad) -> (N, Cb, OH, OW, B)
//   global_avg_pool_nchwc(x (N, Cb, H, W, B)) -> (N, Cb, 1, 1, B): the mean over H x W
//
// Every kernel takes float32 (the fast paths) and float64 (the generic path only: the op test
// compares float32 against it). The float32 AVX-512 paths are chosen at run time
// (nchwc_common.h: use_avx512(), after duet/simd.h); the generic path is the same arithmetic in
// plain C++, which CPUs without AVX-512 (and DUET_CPU_ISA=generic) run.
#pragma once

#include "kernel_api.h"

#define DUET_NCHWC_KERNELS(X)                                                        \
  X(to_nchwc)                                                                        \
  X(from_nchwc)                                                                      \
  X(nchwc_pack_weight) X(conv2d_nchwc) X(depthwise_conv2d_nchwc) X(max_pool2d_nchwc) \
      X(avg_pool2d_nchwc) X(global_avg_pool_nchwc)
DUET_DECLARE_DEVICE_KERNELS(DUET_NCHWC_KERNELS)

namespace duet::kernels {
inline constexpr int64_t kNchwcBlock = 16;
// ceil(channels / 16) for channels >= 0, without overflow (channels may be INT64_MAX).
inline constexpr int64_t nchwc_blocks(int64_t channels) {
  return channels / kNchwcBlock + (channels % kNchwcBlock > 0 ? 1 : 0);
}
}  // namespace duet::kernels

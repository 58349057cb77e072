// The float32 AVX-512 row kernels of depthwise_conv2d_nchwc (nchwc_depthwise_avx512.cpp) and of
// conv2d_nchwc's plain-input stem (nchwc_stem_avx512.cpp). Their callers (nchwc_depthwise.cpp,
// nchwc_stem.cpp) parse attrs, split the rows over threads and run the activations the kernels do
// not apply in registers (apply_activation) on the row after it is stored.
//
//   nchwc::DwGeom g{...};  // sizes, stride, padding, dilation
//   if (nchwc::use_avx512(x.dtype()))
//     nchwc::depthwise_rows_avx512(g, x_plane, w_block, bias16, res_plane, y_plane, 0, g.oh, code);
//
// Included by AVX-512 translation units: plain declarations only (no inline functions).
#pragma once

#include <cstdint>

namespace duet::cpu_kernels::nchwc {

struct Epilogue;  // nchwc_common.h

// The activations the AVX-512 kernels apply in registers (nchwc_act_avx512.h).
enum : int {
  kActNone = 0,
  kActRelu = 1,
  kActRelu6 = 2,
  kActSigmoid = 3,
  kActSilu = 4,
  kActHardswish = 5
};

// The code of e's activation that the AVX-512 kernels apply in registers (nchwc_act_avx512.h:
// none, relu, relu6, sigmoid, silu, hardswish), or -1 when the caller must run apply_activation
// on the stored row (softplus). Defined in nchwc_depthwise.cpp.
int avx512_act_code(const Epilogue& e);

// One depthwise or stem convolution's geometry: input (H, W), output (OH, OW), kernel (KH, KW),
// stride, padding, dilation.
struct DwGeom {
  int64_t h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
};

// Output rows [oh0, oh1) of one 16-channel block: for each row oh,
//   y_plane[oh] (OW, 16) = act(sum_kh,kw x_plane[ih][iw] (16) * w_block[kh][kw] (16) + bias16
//                              + res_plane[oh])
// x_plane (H, W, 16), w_block (KH, KW, 16), bias16 (16), y_plane and res_plane (null: none)
// (OH, OW, 16); act_code: avx512_act_code(e), or 0 (none) when the caller applies the activation.
void depthwise_rows_avx512(const DwGeom& g, const float* x_plane, const float* w_block,
                           const float* bias16, const float* res_plane, float* y_plane, int64_t oh0,
                           int64_t oh1, int act_code);

// Output row oh of the plain-input conv for output blocks [ob0, ob1), from the row's input taps
// copied into xpad (C, KH, WP) with the padding as zeros: xpad[c][kh][j] = x[c][ih][iw] for
// ih = oh * sh - ph + kh * dh, iw = j - pw (zero outside x), WP >= (OW - 1) * sw + (KW - 1) * dw +
// 1:
//   y[ob][oh] (OW, 16) = act(sum_c,kh,kw xpad[c][kh][ow * sw + kw * dw] * wp[ob][c][kh][kw] (16)
//                            + bias[ob] + res[ob][oh])
// wp (Ob, C, KH, KW, 16); bias (Ob, 16) zero-padded; y_img and res_img (null: none) (Ob, OH, OW,
// 16).
void stem_row_avx512(const DwGeom& g, int64_t c, const float* xpad, int64_t wpad, const float* wp,
                     const float* bias, const float* res_img, float* y_img, int64_t oh, int64_t ob0,
                     int64_t ob1, int act_code);

}  // namespace duet::cpu_kernels::nchwc

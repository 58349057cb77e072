// The float32 AVX-512 path of conv2d_nchwc (format "dense"): a band of output rows (or a segment of
// one long row) of a group of output-channel blocks at a time, direct (no im2col, no workspace).
// nchwc_conv.cpp splits the work over threads and calls it only when nchwc::use_avx512(float32).
//
//   nchwc::DenseConv<float> g{...};          // geometry, pointers, in-register activation code
//   nchwc::conv_dense_avx512(g, n, ob0, nob, oh0, oh1, ow0, ow1);
//   // y[n][ob0 .. ob0 + nob)[oh0 .. oh1)[ow0 .. ow1)[0 .. 16) = act(conv + bias + residual)
//
// This header is included by the AVX-512 translation unit: plain declarations only.
#pragma once

#include <cstdint>

namespace duet::cpu_kernels::nchwc {

// One conv2d_nchwc "dense" call: x (n, cb, h, w, 16), wp (ob, cb, kh, kw, 16i, 16o),
// y and residual (n, ob, oh, ow, 16). A 1x1 stride-1 unpadded conv is passed as one long row
// (h = oh = 1, w = ow = H * W).
template <class T>
struct DenseConv {
  const T* x = nullptr;
  const T* w = nullptr;
  const T* bias = nullptr;      // (ob * 16), zero past out_channels; null: no bias
  const T* residual = nullptr;  // like y; null: no residual
  T* y = nullptr;
  int64_t n = 0, cb = 0, h = 0, w_ = 0, ob = 0, oh = 0, ow = 0;
  int64_t kh = 0, kw = 0, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int act = 0;  // applied in registers (AVX-512): nchwc::avx512_act_code (kActNone, ...)
};

// y[n][ob0 .. ob0 + nob)[oh0 .. oh1)[ow0 .. ow1) for 1 <= nob <= 4 (the AVX-512 kernel,
// float32). Partial sums pass through y; the residual is read first, so it may be y itself.
void conv_dense_avx512(const DenseConv<float>& g, int64_t n, int64_t ob0, int64_t nob, int64_t oh0,
                       int64_t oh1, int64_t ow0, int64_t ow1);

}  // namespace duet::cpu_kernels::nchwc

// What the blocked-layout (nChw16c) CPU kernels share (kernels/nchwc_kernels.h): the fused
// epilogue's activation over a tile, and which path a call takes.
//
//   const nchwc::Epilogue e = nchwc::parse_epilogue(k.attrs, "conv2d_nchwc");
//   if (nchwc::use_avx512(y.dtype())) { ...AVX-512 path... } else { ...generic<T>... }
//   // after a tile y[0, n) holds conv + bias + residual:
//   if (!e.in_register()) nchwc::apply_activation(y, n, e);
//
// The AVX-512 files (nchwc_*_avx512.cpp) are compiled with AVX-512 flags even when the rest of
// libduet is not (CMakeLists.txt): they include nchwc_avx512.h first (the intrinsics) and
// headers without inline functions (so no AVX-512 copy of a shared inline function can replace
// the generic one at link time), and they run only when use_avx512() says so.
#pragma once

#include <cstdint>

#include "activations.h"
#include "duet/attrs.h"
#include "duet/dtype.h"
#include "duet/simd.h"
#include "kernel_api.h"
#include "nchwc_kernels.h"

namespace duet::cpu_kernels::nchwc {

inline constexpr int64_t kB = kernels::kNchwcBlock;

// The float32 AVX-512 path runs for this call.
inline bool use_avx512(DType dtype) {
  return dtype == DType::float32 && simd::kernel_isa() == simd::Isa::avx512;
}

// The epilogue's activation, as conv2d_fused reads it (attr "activation" and its attrs).
struct Epilogue {
  kernels::Activation act = kernels::Activation::none;
  const Attrs* attrs = nullptr;
  // relu, relu6 and none are a max/min a kernel applies in registers (in_register_code());
  // the others go through apply_activation after the tile is stored.
  bool in_register() const;
  // 0 none, 1 relu, 2 relu6 (in_register() only).
  int in_register_code() const;
};
Epilogue parse_epilogue(const Attrs& attrs, const char* op);

// y[0, n) = activation(y) in place, with the activation kernels' formulas (relu, relu6, sigmoid,
// silu, hardswish, softplus: kernels/activations.h). Single-threaded: call it on the tile the
// calling thread just wrote.
void apply_activation(float* y, int64_t n, const Epilogue& e);
void apply_activation(double* y, int64_t n, const Epilogue& e);

}  // namespace duet::cpu_kernels::nchwc

namespace duet::cpu_kernels::nchwc {
// conv2d_nchwc with format "plain_input" (x (N, C, H, W), the stem): nchwc_stem.cpp.
// conv2d_nchwc's kernel (nchwc_conv.cpp) hands such calls over.
void conv_plain_input(const KernelArgs& k);
}  // namespace duet::cpu_kernels::nchwc

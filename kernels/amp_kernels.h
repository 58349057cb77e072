// Loss-scaling kernels (duet::amp::GradScaler; ops in src/ops/amp_ops.cpp), CPU
// (kernels/cpu/amp_kernels.cpp) and CUDA. Both read every scalar on the device: no host
// synchronisation.
//
// amp_unscale: inputs g (floating, any shape), inv_scale (float32 ()) and optionally found_inf
//   (float32 ()); outputs out = g * inv_scale (g's shape and dtype; float32 arithmetic for
//   float32/float16/bfloat16 gradients, float64 for float64 ones) and found_inf_out (float32 ()):
//   1 when the input found_inf is nonzero or any element of g is inf or NaN, else 0. One call
//   per gradient, chained through found_inf (torch._amp_foreach_non_finite_check_and_unscale_,
//   out of place). out may be g's own buffer (elementwise).
// amp_update_scale: inputs scale (float32 ()), growth_tracker (int64 ()), found_inf (float32 ())
//   and optionally skipped (int64 ()); writes scale, growth_tracker and skipped in place
//   (torch._amp_update_scale_). attrs growth_factor, backoff_factor (float), growth_interval
//   (int). found_inf != 0: scale = float(double(scale) * backoff_factor), growth_tracker = 0,
//   skipped += 1. Else growth_tracker + 1 == growth_interval: scale = float(double(scale) *
//   growth_factor) unless that is inf, growth_tracker = 0; otherwise growth_tracker += 1.
#pragma once

#include "kernel_api.h"

#define DUET_AMP_KERNELS(X) X(amp_unscale) X(amp_update_scale)
DUET_DECLARE_DEVICE_KERNELS(DUET_AMP_KERNELS)

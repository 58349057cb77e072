// The loss-scaling ops behind duet::amp::GradScaler (duet/amp.h; kernels/amp_kernels.h). They
// run eagerly on concrete tensors and record graph nodes on symbolic ones, like every op.
//
//   Tensor inv = duet::rdiv_scalar(scale, 1.0);                  // float32 ()
//   auto [found_inf, unscaled] = duet::amp::unscale(grads, inv);  // found_inf: float32 (), 0/1
//   duet::amp::update_scale_(scale, growth_tracker, found_inf, skipped, 2.0, 0.5, 2000);
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "duet/tensor.h"

namespace duet::amp {

// (found_inf, {g * inv_scale for g in grads}): one op "amp_unscale" per defined gradient, chained
// through found_inf. grads: floating tensors of any shapes on inv_scale's device (undefined
// ones stay undefined); inv_scale: float32 (). found_inf (float32 ()) is 1 when any element of
// any gradient is inf or NaN, else 0 (a fresh zero tensor when no gradient is defined).
std::pair<Tensor, std::vector<Tensor>> unscale(const std::vector<Tensor>& grads,
                                               const Tensor& inv_scale);

// Op "amp_update_scale_": scale (float32 ()) and growth_tracker (int64 ()) in place from
// found_inf (float32 ()) with torch.cuda.amp.GradScaler's rule; skipped (int64 (), or
// undefined) counts the steps with found_inf != 0. growth_factor > 1, 0 < backoff_factor < 1,
// growth_interval >= 1.
void update_scale_(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                   const Tensor& skipped, double growth_factor, double backoff_factor,
                   int64_t growth_interval);

}  // namespace duet::amp

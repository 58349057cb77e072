// Automatic mixed precision: autocast scopes and loss scaling (docs/mixed_precision.md).
//
//   // eager: convolutions, linear and matmul run in bfloat16 inside the scope; reductions,
//   // softmax/log_softmax, losses and batch-norm statistics stay in float32; parameters stay
//   // float32 (their casts are recorded on the tape, so gradients arrive in float32)
//   {
//     auto scope = duet::autocast(duet::bfloat16);
//     Tensor loss = duet::cross_entropy(net->forward(x), y);
//     loss.backward();
//   }
//   opt.step();
//
//   // graph: the same policy as a compile option (a pass inserts the casts)
//   auto exe = duet::compile(g, {loss}, {.training = true, .optimizer = &opt,
//                                         .autocast = duet::bfloat16});
//
//   // float16 needs loss scaling
//   duet::amp::GradScaler scaler;
//   {
//     auto scope = duet::autocast(duet::float16);
//     scaler.scale(duet::cross_entropy(net->forward(x), y)).backward();
//   }
//   scaler.step(opt);   // unscales the gradients; skips the step on inf/NaN
//   scaler.update();    // lowers the scale after an overflow, grows it after N good steps
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "duet/dtype.h"
#include "duet/tensor.h"

namespace duet {
namespace optim {
class Optimizer;
}

// The calling thread's autocast state: nullopt when off, else the low-precision dtype.
std::optional<DType> autocast_dtype();

// Turns autocast on (dtype: bfloat16 or float16; anything else throws duet::Error) or, with
// enabled = false, off for the scope; restores the previous state when destroyed. Scopes nest.
class AutocastGuard {
 public:
  explicit AutocastGuard(DType dtype, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  std::optional<DType> previous_;
};

// auto scope = duet::autocast(duet::bfloat16);
[[nodiscard]] inline AutocastGuard autocast(DType dtype, bool enabled = true) {
  return AutocastGuard(dtype, enabled);
}

namespace amp {

struct GradScalerOptions {
  double init_scale = 65536.0;   // 2^16
  double growth_factor = 2.0;    // scale *= this after growth_interval steps without inf/NaN
  double backoff_factor = 0.5;   // scale *= this after a step with inf/NaN gradients
  int64_t growth_interval = 2000;
  bool enabled = true;  // false: every call passes through (scale 1, nothing skipped)
};

// Dynamic loss scaling for float16 training (torch.cuda.amp.GradScaler's rules). The scale,
// the count of good steps and the found-inf flag are tensors on the optimizer's device, so the
// same calls run eagerly and inside a compiled training step without reading a value on the
// host (CompileOptions::grad_scaler, FitOptions::grad_scaler).
class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  // loss * scale (in loss's dtype); concrete or symbolic.
  Tensor scale(const Tensor& loss);
  // Divides the gradients of `opt`'s parameters by the scale in place and records whether any
  // is inf/NaN. Called by step() unless called since the last update().
  void unscale_(optim::Optimizer& opt);
  // unscale_ if needed, then opt.step() unless a gradient was inf/NaN. Returns whether it
  // stepped (eager; reads the flag on the host).
  bool step(optim::Optimizer& opt);
  // Backs off or grows the scale from the recorded flag.
  void update();

  double get_scale() const;         // reads the scale tensor (host)
  const Tensor& scale_tensor() const;  // float32 scalar
  const Tensor& found_inf() const;     // float32 scalar: 1 after an inf/NaN, else 0
  const GradScalerOptions& options() const { return options_; }

  // Checkpoints: {"scale", "growth_tracker"}.
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  GradScalerOptions options_;
  Tensor scale_, growth_tracker_, found_inf_;
  bool unscaled_ = false;
};

}  // namespace amp
}  // namespace duet

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

// Dynamic loss scaling for float16 training (torch.cuda.amp.GradScaler's rules). The scale
// (float32 ()), the count of good steps since the last change (int64 ()), the found-inf flag
// (float32 ()) and a count of skipped steps (int64 ()) are tensors on the parameters' device
// (created on the CPU, moved there on first use), updated by ops (src/ops/amp_ops.h), so the
// same calls run eagerly and inside a compiled training step without reading a value on the
// host (CompileOptions::grad_scaler, FitOptions::grad_scaler). One optimizer per scaler.
//
// The rule, per step: found_inf = any gradient element of scale * loss is inf or NaN. If so,
// the update is skipped (parameters and optimizer state untouched), scale *= backoff_factor
// and the good-step count restarts at 0; else the update runs on the gradients / scale, and
// after growth_interval consecutive good steps scale *= growth_factor (unless that overflows
// float32) and the count restarts.
class GradScaler {
 public:
  // Throws duet::Error for init_scale <= 0 or not finite, growth_factor <= 1,
  // backoff_factor outside (0, 1), growth_interval < 1.
  explicit GradScaler(GradScalerOptions options = {});

  // loss * scale (in loss's dtype); concrete or symbolic. Disabled: loss itself.
  Tensor scale(const Tensor& loss);
  // Divides the gradients of `opt`'s parameters by the scale (each .grad() is replaced by the
  // unscaled tensor) and records whether any is inf/NaN. Called by step() unless called since
  // the last update(); a second call before update() throws.
  void unscale_(optim::Optimizer& opt);
  // unscale_ if needed, then opt.step() unless a gradient was inf/NaN. Returns whether it
  // stepped (eager; reads the flag on the host). Disabled: opt.step(), true.
  bool step(optim::Optimizer& opt);
  // Backs off or grows the scale from the recorded flag (after step or unscale_; else throws).
  void update();

  // One whole step with explicit gradients of scale(loss) and no host read, eager or symbolic
  // (compile() records it for CompileOptions::grad_scaler): unscales `scaled_grads`
  // (undefined entries: parameters without a gradient), applies opt's update gated on the
  // device by found_inf (Optimizer::apply_gradients_unless_inf), then updates the scale.
  void apply_gradients(optim::Optimizer& opt, const std::vector<Tensor>& scaled_grads);
  // apply_gradients' pieces, for a step that does more in between (fit: averaging over ranks,
  // clipping): (found_inf, the unscaled gradients), then opt.apply_gradients_unless_inf(...,
  // found_inf), then update(found_inf). Eager or symbolic; no host read.
  std::pair<Tensor, std::vector<Tensor>> unscale_gradients(const std::vector<Tensor>& scaled_grads);
  void update(const Tensor& found_inf);

  bool enabled() const { return options_.enabled; }
  double get_scale() const;            // reads the scale tensor (host); 1 when disabled
  int64_t skipped_steps() const;       // reads the skipped-step count (host)
  const Tensor& scale_tensor() const;  // float32 scalar
  const Tensor& found_inf() const;     // float32 scalar: 1 after an inf/NaN, else 0
  const GradScalerOptions& options() const { return options_; }

  // Checkpoints: {"scale" float32 (), "growth_tracker" int64 ()} (the live tensors). load
  // checks the keys, shapes and dtypes exactly (the error names what was expected) and the
  // scale (finite, > 0), then copies in place (compiled graphs hold these tensors).
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  void place(Device device);  // moves the state tensors before their first use
  GradScalerOptions options_;
  Tensor scale_, growth_tracker_, found_inf_, skipped_;
  bool placed_ = false;
  bool unscaled_ = false;  // since the last update()
};

}  // namespace amp
}  // namespace duet

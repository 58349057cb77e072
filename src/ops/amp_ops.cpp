// Loss-scaling ops (src/ops/amp_ops.h, kernels/amp_kernels.h): amp_unscale checks the gradients
// for inf/NaN and divides them by the loss scale in one pass; amp_update_scale_ backs the scale
// off or grows it. Every scalar stays a device tensor, so a compiled training step with a
// GradScaler never synchronises with the host.
#include "ops/amp_ops.h"

#include <cmath>

#include "amp_kernels.h"
#include "duet/autograd.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

// A float32 or int64 scalar input (shape ()), on input 0's device.
void expect_scalar(const InferArgs& a, size_t i, DType dtype, const char* name) {
  const TensorMeta& t = a.inputs[i];
  DUET_CHECK(t.dtype == dtype && t.shape.empty(), a.op, ": ", name, " has shape ",
             shape_str(t.shape), " ", t.dtype, " (expected a ", dtype, " scalar of shape ())");
}

// inputs: g (floating, any shape), inv_scale (float32 ())[, found_inf (float32 ())];
// outputs: like g, and found_inf (float32 ()).
std::vector<TensorMeta> amp_unscale_infer(const InferArgs& a) {
  DUET_CHECK(a.inputs.size() == 2 || a.inputs.size() == 3, a.op, ": got ", a.inputs.size(),
             " inputs (expected grad, inv_scale and optionally found_inf)");
  infer::expect_floating(a, 0);
  expect_scalar(a, 1, DType::float32, "inv_scale");
  if (a.inputs.size() == 3) expect_scalar(a, 2, DType::float32, "found_inf");
  return {a.inputs[0], {Shape{}, DType::float32, a.inputs[0].device}};
}

// inputs: scale (float32 ()), growth_tracker (int64 ()), found_inf (float32 ())[, skipped
// (int64 ())]; writes scale, growth_tracker and skipped.
std::vector<TensorMeta> amp_update_scale_infer(const InferArgs& a) {
  DUET_CHECK(a.inputs.size() == 3 || a.inputs.size() == 4, a.op, ": got ", a.inputs.size(),
             " inputs (expected scale, growth_tracker, found_inf and optionally skipped)");
  expect_scalar(a, 0, DType::float32, "scale");
  expect_scalar(a, 1, DType::int64, "growth_tracker");
  expect_scalar(a, 2, DType::float32, "found_inf");
  if (a.inputs.size() == 4) expect_scalar(a, 3, DType::int64, "skipped");
  const double growth = a.attrs.f("growth_factor"), backoff = a.attrs.f("backoff_factor");
  const int64_t interval = a.attrs.i("growth_interval");
  DUET_CHECK(std::isfinite(growth) && growth > 1.0, a.op, ": growth_factor = ", growth,
             " (expected a finite value > 1)");
  DUET_CHECK(backoff > 0.0 && backoff < 1.0, a.op, ": backoff_factor = ", backoff,
             " (expected a value in (0, 1))");
  DUET_CHECK(interval >= 1, a.op, ": growth_interval = ", interval, " (expected >= 1)");
  return {};
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

SampleInput f32_scalar(SampleInit init, double lo, double hi) {
  return {{}, DType::float32, init, lo, hi, true};
}

// (grad, inv_scale[, found_inf]): elementwise shapes; found_inf 0 and 1 (kept).
std::vector<OpSample> amp_unscale_samples() {
  using namespace samples;
  const SampleInput inv = f32_scalar(SampleInit::uniform, 0.25, 2.0);
  std::vector<OpSample> r;
  for (const Shape& s : elementwise_shapes()) r.push_back({.inputs = {normal(s), inv}});
  r.push_back({.inputs = {normal({3, 5}), inv, f32_scalar(SampleInit::integers, 0, 1)}});
  r.push_back({.inputs = {normal({7}), inv, f32_scalar(SampleInit::ones, 0, 1)}});
  return r;
}
Attrs update_scale_attrs(int64_t interval) {
  return Attrs()
      .set("growth_factor", 2.0)
      .set("backoff_factor", 0.5)
      .set("growth_interval", interval);
}
// found_inf 1 (back off), 0 with growth_interval 1 (grow) and 3 (count, or grow when the
// tracker is 2), with and without the skipped counter.
std::vector<OpSample> amp_update_scale_samples() {
  using namespace samples;
  const SampleInput scale = f32_scalar(SampleInit::uniform, 1.0, 4.0);
  const SampleInput inf = f32_scalar(SampleInit::ones, 0, 1);
  const SampleInput finite = f32_scalar(SampleInit::integers, 0, 1);
  return {{.inputs = {scale, step(), inf}, .attrs = update_scale_attrs(3)},
          {.inputs = {scale, step(), inf, step()}, .attrs = update_scale_attrs(3)},
          {.inputs = {scale, step(), finite}, .attrs = update_scale_attrs(1)},
          {.inputs = {scale, step(), finite, step()}, .attrs = update_scale_attrs(3)}};
}

}  // namespace

DUET_DEFINE_OP(amp_unscale_op, {.id = OpId::amp_unscale,
                                .num_inputs = -1,
                                .num_outputs = 2,
                                .infer = amp_unscale_infer,
                                .nondiff_inputs = 0b111,
                                .kernels = {cpu_kernels::amp_unscale},
                                .inplace_input = 0,
                                .samples = amp_unscale_samples})
DUET_DEFINE_OP(amp_update_scale_op, {.id = OpId::amp_update_scale_,
                                     .num_inputs = -1,
                                     .num_outputs = 0,
                                     .traits = static_cast<uint32_t>(OpTrait::optimizer_update),
                                     .infer = amp_update_scale_infer,
                                     .mutates_inputs = 0b1011,
                                     .nondiff_inputs = 0b1111,
                                     .kernels = {cpu_kernels::amp_update_scale},
                                     .samples = amp_update_scale_samples,
                                     .low_precision = false})  // float32 / int64 state by contract

namespace amp {

std::pair<Tensor, std::vector<Tensor>> unscale(const std::vector<Tensor>& grads,
                                               const Tensor& inv_scale) {
  NoGradGuard no_grad;
  std::vector<Tensor> out(grads.size());
  Tensor found_inf;
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    std::vector<Tensor> in{grads[i], inv_scale};
    if (found_inf.defined()) in.push_back(found_inf);
    std::vector<Tensor> r = call_op(amp_unscale_op(), std::move(in));
    out[i] = r[0];
    found_inf = r[1];
  }
  if (!found_inf.defined()) found_inf = Tensor::zeros({}, float32, inv_scale.device());
  return {found_inf, std::move(out)};
}

void update_scale_(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                   const Tensor& skipped, double growth_factor, double backoff_factor,
                   int64_t growth_interval) {
  std::vector<Tensor> in{scale, growth_tracker, found_inf};
  if (skipped.defined()) in.push_back(skipped);
  NoGradGuard no_grad;
  call_op(amp_update_scale_op(), std::move(in),
          Attrs()
              .set("growth_factor", growth_factor)
              .set("backoff_factor", backoff_factor)
              .set("growth_interval", growth_interval));
}

}  // namespace amp
}  // namespace duet

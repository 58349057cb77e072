// softmax / log_softmax (numerically stable, any axis) with fused gradient ops, cross
// entropy (one fused op that also returns log-probabilities for its backward op) and
// mse_loss (composed of ops).
#include "loss_kernels.h"
#include "duet/amp.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/loss.h"
#include "duet/ops/reduce.h"
#include "duet/ops/shape.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

int64_t axis_attr(const Attrs& at, int64_t rank, const char* op) {
  return normalize_axis(at.i("axis"), rank, op);
}

std::vector<TensorMeta> softmax_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  axis_attr(a.attrs, static_cast<int64_t>(a.inputs[0].shape.size()), a.op);
  return {a.inputs[0]};
}

// (grad, y) of equal shapes and dtypes.
std::vector<TensorMeta> softmax_backward_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  infer::expect_same_dtype(a, 0, 1);
  DUET_CHECK(a.inputs[0].shape == a.inputs[1].shape, a.op, ": grad has shape ",
             shape_str(a.inputs[0].shape), " but y has shape ", shape_str(a.inputs[1].shape),
             " (expected equal shapes)");
  axis_attr(a.attrs, static_cast<int64_t>(a.inputs[0].shape.size()), a.op);
  return {a.inputs[0]};
}

Tensor sum_axis(const Tensor& t, const Attrs& at) {
  return sum(t, {at.i("axis")}, true);
}

std::vector<Tensor> softmax_grad(const GradArgs& g) {
  return {softmax_backward(g.grad_outputs[0], g.outputs[0], g.attrs.i("axis"))};
}
std::vector<Tensor> log_softmax_grad(const GradArgs& g) {
  return {log_softmax_backward(g.grad_outputs[0], g.outputs[0], g.attrs.i("axis"))};
}

// out = y * (g - s), s = sum(g * y):
//   d/dg = y * (gg - sum(gg * y)) = softmax_backward(gg, y)
//   d/dy = gg * (g - s) - g * sum(gg * y)
std::vector<Tensor> softmax_backward_grad(const GradArgs& g) {
  const Tensor &go = g.inputs[0], &y = g.inputs[1], &gg = g.grad_outputs[0];
  Tensor gy;
  if (g.needs_input_grad[1]) {
    Tensor s = sum_axis(mul(go, y), g.attrs), t = sum_axis(mul(gg, y), g.attrs);
    gy = sub(mul(gg, sub(go, s)), mul(go, t));
  }
  return {g.needs_input_grad[0] ? softmax_backward(gg, y, g.attrs.i("axis")) : Tensor(), gy};
}

// out = g - p * sum(g), p = exp(y):
//   d/dg = gg - sum(gg * p)
//   d/dy = -gg * p * sum(g)
std::vector<Tensor> log_softmax_backward_grad(const GradArgs& g) {
  const Tensor &go = g.inputs[0], &y = g.inputs[1], &gg = g.grad_outputs[0];
  Tensor p = exp(y);
  return {g.needs_input_grad[0] ? sub(gg, sum_axis(mul(gg, p), g.attrs)) : Tensor(),
          g.needs_input_grad[1] ? neg(mul(mul(gg, p), sum_axis(go, g.attrs))) : Tensor()};
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

Attrs axis_sample(int64_t axis) {
  return Attrs().set("axis", axis);
}
// Rows along the last axis, the first axis, a 1-d input, an empty batch.
std::vector<OpSample> softmax_samples() {
  using namespace samples;
  return {{.inputs = {normal({3, 5})}, .attrs = axis_sample(1)},
          {.inputs = {normal({2, 3, 4})}, .attrs = axis_sample(0)},
          {.inputs = {normal({2, 3, 4})}, .attrs = axis_sample(-2)},
          {.inputs = {normal({7})}, .attrs = axis_sample(-1)},
          {.inputs = {normal({0, 4})}, .attrs = axis_sample(1)}};
}
// (grad, y): y is softmax's output (probabilities) or log_softmax's (log-probabilities).
std::vector<OpSample> softmax_grad_samples(SampleInput y) {
  std::vector<OpSample> r = softmax_samples();
  for (OpSample& s : r) {
    y.shape = s.inputs[0].shape;
    s.inputs = {samples::normal(y.shape), y};
  }
  return r;
}
std::vector<OpSample> softmax_backward_samples() {
  return softmax_grad_samples(samples::uniform({}, 0, 1));
}
std::vector<OpSample> log_softmax_backward_samples() {
  return softmax_grad_samples(samples::uniform({}, -3, 0));
}
// (logits (N, C), labels (N) in [0, C)), with and without label smoothing.
std::vector<OpSample> cross_entropy_samples() {
  using namespace samples;
  const Attrs none = Attrs().set("label_smoothing", 0.0);
  return {{.inputs = {normal({4, 3}), index({4}, 3)}, .attrs = none},
          {.inputs = {normal({5, 7}), index({5}, 7)}, .attrs = Attrs().set("label_smoothing", 0.1)},
          {.inputs = {normal({1, 1}), index({1}, 1)}, .attrs = none}};
}
// (grad (), log_probs (N, C), labels (N)).
std::vector<OpSample> cross_entropy_backward_samples() {
  using namespace samples;
  return {{.inputs = {normal(), uniform({4, 3}, -3, 0), index({4}, 3)},
           .attrs = Attrs().set("label_smoothing", 0.0)},
          {.inputs = {normal(), uniform({5, 7}, -3, 0), index({5}, 7)},
           .attrs = Attrs().set("label_smoothing", 0.1)}};
}

}  // namespace

DUET_DEFINE_OP(softmax_op, {.id = OpId::softmax,
                            .infer = softmax_infer,
                            .grad = softmax_grad,
                            .save_outputs = 1,
                            .kernels = {cpu_kernels::softmax},
                            .inplace_input = 0,
                            .samples = softmax_samples,
                            .autocast = AutocastPolicy::float32})
DUET_DEFINE_OP(log_softmax_op,
               {.id = OpId::log_softmax,
                .infer = softmax_infer,
                .grad = log_softmax_grad,
                .save_outputs = 1,
                .kernels = {cpu_kernels::log_softmax},
                .samples = softmax_samples,
                .autocast = AutocastPolicy::float32})
DUET_DEFINE_OP(softmax_backward_op,
               {.id = OpId::softmax_backward,
                .num_inputs = 2,
                .traits = static_cast<uint32_t>(OpTrait::backward),
                .infer = softmax_backward_infer,
                .grad = softmax_backward_grad,
                .save_inputs = 0b11,
                .kernels = {cpu_kernels::softmax_backward},
                .inplace_input = 0,
                .samples = softmax_backward_samples})
DUET_DEFINE_OP(log_softmax_backward_op, {.id = OpId::log_softmax_backward,
                                         .num_inputs = 2,
                                         .traits = static_cast<uint32_t>(OpTrait::backward),
                                         .infer = softmax_backward_infer,
                                         .grad = log_softmax_backward_grad,
                                         .save_inputs = 0b11,
                                         .kernels = {cpu_kernels::log_softmax_backward},
                                         .inplace_input = 0,
                                         .samples = log_softmax_backward_samples})

namespace {

// ---- cross entropy -----------------------------------------------------------------------

// Checks (N, C) floating scores at input `si` and (N) int64 labels at input `li`.
void check_scores_labels(const InferArgs& a, int si, int li, const char* what) {
  const TensorMeta &x = a.inputs[si], &l = a.inputs[li];
  infer::expect_floating(a, si);
  DUET_CHECK(x.shape.size() == 2, a.op, ": ", what, " have shape ", shape_str(x.shape),
             " (expected rank 2: (N, C))");
  DUET_CHECK(x.shape[1] > 0, a.op, ": ", what, " have shape ", shape_str(x.shape),
             " (expected at least one class)");
  DUET_CHECK(l.dtype == DType::int64, a.op, ": labels have dtype ", l.dtype,
             " (expected int64 class indices)");
  DUET_CHECK(l.shape.size() == 1 && l.shape[0] == x.shape[0], a.op, ": labels have shape ",
             shape_str(l.shape), " but ", what, " have shape ", shape_str(x.shape),
             " (expected labels of shape ", shape_str(Shape{x.shape[0]}), ")");
  const double eps = a.attrs.f("label_smoothing");
  DUET_CHECK(eps >= 0.0 && eps <= 1.0, a.op, ": label_smoothing = ", eps,
             " (expected 0 <= label_smoothing <= 1)");
}

std::vector<TensorMeta> cross_entropy_infer(const InferArgs& a) {
  check_scores_labels(a, 0, 1, "logits");
  const TensorMeta& x = a.inputs[0];
  return {{Shape{}, x.dtype, x.device}, x};
}

// inputs: grad (), log_probs (N, C), labels (N)
std::vector<TensorMeta> cross_entropy_backward_infer(const InferArgs& a) {
  check_scores_labels(a, 1, 2, "log_probs");
  infer::expect_same_dtype(a, 0, 1);
  DUET_CHECK(a.inputs[0].shape.empty(), a.op, ": grad has shape ", shape_str(a.inputs[0].shape),
             " (expected a 0-d tensor: the loss is a scalar)");
  return {a.inputs[1]};
}

double smoothing(const Attrs& at) {
  return at.f("label_smoothing");
}

// Outputs: loss, log_probs. The log_probs output only reaches users through graph mode or
// internal callers; its gradient (if any) flows through log_softmax_backward.
std::vector<Tensor> cross_entropy_grad(const GradArgs& g) {
  const Tensor &logp = g.outputs[1], &labels = g.inputs[1];
  Tensor gx;
  if (g.grad_outputs[0].defined())
    gx = cross_entropy_backward(g.grad_outputs[0], logp, labels, smoothing(g.attrs));
  if (g.grad_outputs[1].defined()) {
    Tensor extra = log_softmax_backward(g.grad_outputs[1], logp, 1);
    gx = gx.defined() ? add(gx, extra) : extra;
  }
  return {gx, Tensor()};
}

// out = (exp(logp) - q) * grad / N:
//   d/dgrad = sum(gg * (exp(logp) - q) / N) = sum(gg * cross_entropy_backward(1, ...))
//   d/dlogp = gg * exp(logp) * grad / N
std::vector<Tensor> cross_entropy_backward_grad(const GradArgs& g) {
  const Tensor &go = g.inputs[0], &logp = g.inputs[1], &labels = g.inputs[2];
  const Tensor& gg = g.grad_outputs[0];
  Tensor dgrad, dlogp;
  if (g.needs_input_grad[0]) {
    Tensor one = Tensor::ones({}, go.dtype(), go.device());
    dgrad = sum(mul(gg, cross_entropy_backward(one, logp, labels, smoothing(g.attrs))));
  }
  if (g.needs_input_grad[1]) {
    const double n = static_cast<double>(g.input_metas[1].shape[0]);
    dlogp = mul(mul(gg, exp(logp)), div(go, n));
  }
  return {dgrad, dlogp, Tensor()};
}

}  // namespace

DUET_DEFINE_OP(cross_entropy_op,
               {.id = OpId::cross_entropy,
                .num_inputs = 2,
                .num_outputs = 2,
                .infer = cross_entropy_infer,
                .grad = cross_entropy_grad,
                .save_inputs = 0b10,
                .save_outputs = 0b10,
                .nondiff_inputs = 0b10,
                .kernels = {cpu_kernels::cross_entropy},
                .samples = cross_entropy_samples,
                .autocast = AutocastPolicy::float32})
DUET_DEFINE_OP(cross_entropy_backward_op, {.id = OpId::cross_entropy_backward,
                                           .num_inputs = 3,
                                           .traits = static_cast<uint32_t>(OpTrait::backward),
                                           .infer = cross_entropy_backward_infer,
                                           .grad = cross_entropy_backward_grad,
                                           .save_inputs = 0b111,
                                           .nondiff_inputs = 0b100,
                                           .kernels = {cpu_kernels::cross_entropy_backward},
                                           .inplace_input = 1,
                                           .samples = cross_entropy_backward_samples})

namespace {

Attrs axis_attrs(int64_t axis) {
  return Attrs().set("axis", axis);
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(softmax_op(), {x}, axis_attrs(axis));
}
Tensor log_softmax(const Tensor& x, int64_t axis, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(log_softmax_op(), {x}, axis_attrs(axis));
}
Tensor softmax_backward(const Tensor& grad, const Tensor& y, int64_t axis,
                        std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(softmax_backward_op(), {grad, y}, axis_attrs(axis));
}
Tensor log_softmax_backward(const Tensor& grad, const Tensor& y, int64_t axis,
                            std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(log_softmax_backward_op(), {grad, y}, axis_attrs(axis));
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing,
                     std::source_location loc) {
  LocationScope scope(loc);
  return call_op(cross_entropy_op(), {logits, labels},
                 Attrs().set("label_smoothing", label_smoothing))[0];
}
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& labels,
                              double label_smoothing, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(cross_entropy_backward_op(), {grad, log_probs, labels},
                  Attrs().set("label_smoothing", label_smoothing));
}

Tensor mse_loss(const Tensor& prediction_in, const Tensor& target_in, std::source_location loc) {
  LocationScope scope(loc);
  DUET_CHECK(prediction_in.defined() && target_in.defined(), "mse_loss: undefined input tensor");
  // Autocast (duet/amp.h): mse_loss is on torch.autocast's float32 list; being composed of
  // ops, it casts its low-precision inputs itself.
  auto f32 = [](const Tensor& t) {
    return autocast_dtype() && is_low_precision(t.dtype()) ? cast(t, float32) : t;
  };
  const Tensor prediction = f32(prediction_in), target = f32(target_in);
  DUET_CHECK(prediction.shape() == target.shape(), "mse_loss: prediction has shape ",
             shape_str(prediction.shape()), " but target has shape ", shape_str(target.shape()),
             " (expected equal shapes)");
  DUET_CHECK(prediction.dtype() == target.dtype(), "mse_loss: prediction has dtype ",
             prediction.dtype(), " but target has dtype ", target.dtype(),
             " (expected the same dtype)");
  DUET_CHECK(is_floating(prediction.dtype()), "mse_loss: inputs have dtype ", prediction.dtype(),
             " (expected float32 or float64)");
  Tensor d = sub(prediction, target);
  return mean(mul(d, d));
}

}  // namespace duet

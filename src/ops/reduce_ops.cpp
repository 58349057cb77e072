// Reductions: sum, mean, max over any set of axes, argmax along one axis, and max_backward.
#include "reduce_kernels.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/reduce.h"
#include "duet/ops/shape.h"
#include "geometry.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

using Ints = std::vector<int64_t>;

// x: (d0, ..., dn) -> size 1 (keepdim) or removed at each reduced axis.
Shape reduced_shape(const Shape& in, const std::vector<bool>& mask, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!mask[d]) {
      out.push_back(in[d]);
    } else if (keepdim) {
      out.push_back(1);
    }
  }
  return out;
}

std::vector<bool> mask_of(const InferArgs& a, int input) {
  return kernels::reduced_axes_mask(a.inputs[input].shape, a.attrs.ints("axes"), a.op);
}

Shape out_shape(const InferArgs& a, int input) {
  return reduced_shape(a.inputs[input].shape, mask_of(a, input), a.attrs.b("keepdim"));
}

std::vector<TensorMeta> sum_infer(const InferArgs& a) {
  DType t = a.inputs[0].dtype;
  DUET_CHECK(is_floating(t) || t == DType::int64 || t == DType::bool_, a.op, ": input has dtype ",
             t, " (expected float32, float64, int64 or bool)");
  return {{out_shape(a, 0), t == DType::bool_ ? DType::int64 : t, a.inputs[0].device}};
}

std::vector<TensorMeta> mean_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  return {{out_shape(a, 0), a.inputs[0].dtype, a.inputs[0].device}};
}

// Every reduced group must be non-empty: the max of nothing is undefined.
void check_nonempty_groups(const InferArgs& a, int input, const std::vector<bool>& mask) {
  const Shape& s = a.inputs[input].shape;
  for (size_t d = 0; d < s.size(); ++d) {
    DUET_CHECK(!(mask[d] && s[d] == 0), a.op, ": cannot reduce over axis ", d,
               " of size 0 in a tensor of shape ", shape_str(s),
               " (expected non-empty reduced axes)");
  }
}

std::vector<TensorMeta> max_infer(const InferArgs& a) {
  DType t = a.inputs[0].dtype;
  DUET_CHECK(is_floating(t) || t == DType::int64, a.op, ": input has dtype ", t,
             " (expected float32, float64 or int64)");
  std::vector<bool> mask = mask_of(a, 0);
  check_nonempty_groups(a, 0, mask);
  return {{reduced_shape(a.inputs[0].shape, mask, a.attrs.b("keepdim")), t, a.inputs[0].device}};
}

std::vector<TensorMeta> argmax_infer(const InferArgs& a) {
  DType t = a.inputs[0].dtype;
  DUET_CHECK(is_floating(t) || t == DType::int64, a.op, ": input has dtype ", t,
             " (expected float32, float64 or int64)");
  const Shape& s = a.inputs[0].shape;
  std::vector<bool> mask;
  if (s.empty()) {
    const int64_t ax = a.attrs.i("axis");
    DUET_CHECK(ax == 0 || ax == -1, a.op, ": axis ", ax,
               " is out of range for a 0-d tensor "
               "(expected 0 or -1)");
  } else {
    mask = kernels::reduced_axes_mask(s, {a.attrs.i("axis")}, a.op);
    check_nonempty_groups(a, 0, mask);
  }
  return {{reduced_shape(s, mask, a.attrs.b("keepdim")), DType::int64, a.inputs[0].device}};
}

// max_backward(grad, x): grad shaped like max(x, axes, keepdim); output like x.
std::vector<TensorMeta> max_backward_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  infer::expect_same_dtype(a, 0, 1);
  std::vector<bool> mask = mask_of(a, 1);
  check_nonempty_groups(a, 1, mask);
  Shape expect = reduced_shape(a.inputs[1].shape, mask, a.attrs.b("keepdim"));
  DUET_CHECK(a.inputs[0].shape == expect, a.op, ": grad has shape ", shape_str(a.inputs[0].shape),
             " for x of shape ", shape_str(a.inputs[1].shape), " (expected ", shape_str(expect),
             ")");
  return {a.inputs[1]};
}

// ---- gradients ---------------------------------------------------------------------------

// The gradient of a reduction output broadcast back over the input's shape.
Tensor expand_back(const Tensor& g, const GradArgs& args) {
  const Shape& in = args.input_metas[0].shape;
  std::vector<bool> mask = kernels::reduced_axes_mask(in, args.attrs.ints("axes"), "sum");
  Tensor r = args.attrs.b("keepdim") ? g : reshape(g, reduced_shape(in, mask, true));
  return expand(r, in);
}

int64_t group_size(const GradArgs& args) {
  const Shape& in = args.input_metas[0].shape;
  std::vector<bool> mask = kernels::reduced_axes_mask(in, args.attrs.ints("axes"), "mean");
  int64_t n = 1;
  for (size_t d = 0; d < in.size(); ++d)
    if (mask[d]) n *= in[d];
  return n;
}

std::vector<Tensor> sum_grad(const GradArgs& g) {
  return {expand_back(g.grad_outputs[0], g)};
}

std::vector<Tensor> mean_grad(const GradArgs& g) {
  return {expand_back(mul(g.grad_outputs[0], 1.0 / static_cast<double>(group_size(g))), g)};
}

std::vector<Tensor> max_grad(const GradArgs& g) {
  return {max_backward(g.grad_outputs[0], g.inputs[0], g.attrs.ints("axes"), g.attrs.b("keepdim"))};
}

// max_backward is linear in grad: its adjoint gathers gg at the same positions, i.e.
// sum(gg * onehot) with onehot = max_backward(ones, x). x gets no gradient (piecewise const).
std::vector<Tensor> max_backward_grad(const GradArgs& g) {
  const Ints& axes = g.attrs.ints("axes");
  const bool keepdim = g.attrs.b("keepdim");
  const TensorMeta& gm = g.input_metas[0];
  Tensor onehot =
      max_backward(Tensor::ones(gm.shape, gm.dtype, gm.device), g.inputs[1], axes, keepdim);
  return {sum(mul(g.grad_outputs[0], onehot), axes, keepdim), Tensor()};
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

// One axis, negative and several axes with keepdim, every axis (axes = {}), a 0-d input and
// an empty input whose reduced groups are empty (sum) or whose kept axis is empty (mean, max).
std::vector<OpSample> reduce_samples(bool empty_groups) {
  using namespace samples;
  auto at = [](Ints axes, bool keepdim) {
    return Attrs().set("axes", axes).set("keepdim", keepdim);
  };
  std::vector<OpSample> r = {{.inputs = {normal({2, 3, 4})}, .attrs = at({1}, false)},
                             {.inputs = {normal({2, 3, 5})}, .attrs = at({-1, 0}, true)},
                             {.inputs = {normal({3, 5})}, .attrs = at({}, false)},
                             {.inputs = {normal({})}, .attrs = at({}, false)},
                             {.inputs = {normal({0, 4})}, .attrs = at({1}, true)}};
  if (empty_groups) r.push_back({.inputs = {normal({0, 4})}, .attrs = at({0}, false)});
  return r;
}
std::vector<OpSample> argmax_samples() {
  using namespace samples;
  auto at = [](int64_t axis, bool keepdim) {
    return Attrs().set("axis", axis).set("keepdim", keepdim);
  };
  return {{.inputs = {normal({3, 5})}, .attrs = at(1, false)},
          {.inputs = {normal({2, 3, 4})}, .attrs = at(-2, true)},
          {.inputs = {integers({4, 3}, 0, 2)}, .attrs = at(0, false)},  // ties: the first wins
          {.inputs = {normal({})}, .attrs = at(0, false)}};
}
// (grad of the reduced shape, x).
std::vector<OpSample> max_backward_samples() {
  using namespace samples;
  auto at = [](Ints axes, bool keepdim) {
    return Attrs().set("axes", axes).set("keepdim", keepdim);
  };
  return {{.inputs = {normal({2, 4}), normal({2, 3, 4})}, .attrs = at({1}, false)},
          {.inputs = {normal({1, 3, 1}), normal({2, 3, 5})}, .attrs = at({-1, 0}, true)},
          {.inputs = {normal({}), normal({3, 5})}, .attrs = at({}, false)}};
}

}  // namespace

DUET_DEFINE_OP(sum_op, {.id = OpId::sum,
                        .traits = static_cast<uint32_t>(OpTrait::reduction),
                        .infer = sum_infer,
                        .grad = sum_grad,
                        .kernels = {cpu_kernels::sum},
                        .samples = [] { return reduce_samples(true); },
                        .autocast = AutocastPolicy::float32})
DUET_DEFINE_OP(mean_op, {.id = OpId::mean,
                         .traits = static_cast<uint32_t>(OpTrait::reduction),
                         .infer = mean_infer,
                         .grad = mean_grad,
                         .kernels = {cpu_kernels::mean},
                         .samples = [] { return reduce_samples(false); },
                         .autocast = AutocastPolicy::float32})
DUET_DEFINE_OP(max_op, {.id = OpId::max,
                        .traits = static_cast<uint32_t>(OpTrait::reduction),
                        .infer = max_infer,
                        .grad = max_grad,
                        .save_inputs = 1,
                        .kernels = {cpu_kernels::max},
                        .samples = [] { return reduce_samples(false); }})
DUET_DEFINE_OP(argmax_op, {.id = OpId::argmax,
                           .traits = static_cast<uint32_t>(OpTrait::reduction),
                           .infer = argmax_infer,
                           .kernels = {cpu_kernels::argmax},
                           .samples = argmax_samples})
DUET_DEFINE_OP(max_backward_op,
               {.id = OpId::max_backward,
                .num_inputs = 2,
                .traits = static_cast<uint32_t>(OpTrait::backward),
                .infer = max_backward_infer,
                .grad = max_backward_grad,
                .save_inputs = 0b10,
                .nondiff_inputs = 0b10,
                .kernels = {cpu_kernels::max_backward},
                .samples = max_backward_samples})

namespace {

Attrs reduce_attrs(const Ints& axes, bool keepdim) {
  return Attrs().set("axes", axes).set("keepdim", keepdim);
}

}  // namespace

Tensor sum(const Tensor& x, const Ints& axes, bool keepdim, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(sum_op(), {x}, reduce_attrs(axes, keepdim));
}
Tensor mean(const Tensor& x, const Ints& axes, bool keepdim, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(mean_op(), {x}, reduce_attrs(axes, keepdim));
}
Tensor max(const Tensor& x, const Ints& axes, bool keepdim, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(max_op(), {x}, reduce_attrs(axes, keepdim));
}
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(argmax_op(), {x}, Attrs().set("axis", axis).set("keepdim", keepdim));
}
Tensor max_backward(const Tensor& grad, const Tensor& x, const Ints& axes, bool keepdim,
                    std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(max_backward_op(), {grad, x}, reduce_attrs(axes, keepdim));
}

}  // namespace duet

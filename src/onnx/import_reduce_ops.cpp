// ONNX reductions (ReduceSum/Mean/Max/Min, the L1/L2/SumSquare/LogSum/LogSumExp forms composed
// from duet's sum, mean and max) and ArgMax/ArgMin (src/onnx/import_ops.h). Axes come from the
// attribute, or for ReduceSum from opset 13 the constant input 1; an empty list reduces every
// axis unless noop_with_empty_axes=1.
#include <algorithm>
#include <numeric>
#include <string>

#include "duet/ops.h"
#include "onnx/import_tensor_util.h"

namespace duet::onnx::detail {
namespace {

struct Reduction {
  std::vector<int64_t> axes;  // normalized, never empty (empty = all axes) unless noop
  bool keepdims = true;
  bool noop = false;  // noop_with_empty_axes and no axes: the input is the output
};

Reduction read_reduction(NodeContext& n, bool axes_input) {
  if (axes_input) {
    n.expect_attrs({"keepdims", "noop_with_empty_axes"});
  } else {
    n.expect_attrs({"axes", "keepdims"});
  }
  const Tensor& x = n.input(0);
  Reduction r;
  r.keepdims = n.attr_int("keepdims", 1) != 0;
  std::vector<int64_t> axes;
  if (axes_input) {
    if (n.has_input(1)) {
      if (!n.is_constant(1)) n.fail("axes (input 1) computed at run time are not supported");
      axes = n.constant_ints(1);
    }
  } else {
    axes = n.attr_ints("axes");
  }
  if (axes.empty()) {
    if (axes_input && n.attr_int("noop_with_empty_axes", 0) != 0) {
      r.noop = true;
      return r;
    }
    axes.resize(static_cast<size_t>(x.dim()));
    std::iota(axes.begin(), axes.end(), int64_t{0});
  }
  r.axes = norm_axes(n, axes, x.dim(), "axes");
  return r;
}

void expect_numbers(const NodeContext& n, const Tensor& x, bool floating_only) {
  if (x.dtype() == bool_ || (floating_only && !is_floating(x.dtype()))) {
    n.fail(std::string("input of element type ") + dtype_name(x.dtype()) + " is not supported" +
           (floating_only ? " (expected float32 or float64)" : " (expected numbers)"));
  }
}

Tensor neg_any(const Tensor& x) {
  if (is_floating(x.dtype())) return neg(x);
  return sub(zero_like_scalar(x), x);
}

bool sum_axes_input(const NodeContext& n) {
  return n.opset() >= 13;
}

std::vector<Tensor> convert_reduce_sum(NodeContext& n) {
  const Reduction r = read_reduction(n, sum_axes_input(n));
  expect_numbers(n, n.input(0), false);
  if (r.noop) return {n.input(0)};
  return {sum(n.input(0), r.axes, r.keepdims)};
}

std::vector<Tensor> convert_reduce_mean(NodeContext& n) {
  const Reduction r = read_reduction(n, false);
  expect_numbers(n, n.input(0), true);
  return {mean(n.input(0), r.axes, r.keepdims)};
}

std::vector<Tensor> convert_reduce_max(NodeContext& n) {
  const Reduction r = read_reduction(n, false);
  expect_numbers(n, n.input(0), false);
  return {max(n.input(0), r.axes, r.keepdims)};
}

std::vector<Tensor> convert_reduce_min(NodeContext& n) {
  const Reduction r = read_reduction(n, false);
  expect_numbers(n, n.input(0), false);
  return {neg_any(max(neg_any(n.input(0)), r.axes, r.keepdims))};
}

std::vector<Tensor> convert_reduce_l1(NodeContext& n) {
  const Reduction r = read_reduction(n, false);
  expect_numbers(n, n.input(0), true);
  return {sum(abs(n.input(0)), r.axes, r.keepdims)};
}

std::vector<Tensor> convert_reduce_l2(NodeContext& n) {
  const Reduction r = read_reduction(n, false);
  expect_numbers(n, n.input(0), true);
  const Tensor& x = n.input(0);
  return {sqrt(sum(mul(x, x), r.axes, r.keepdims))};
}

std::vector<Tensor> convert_reduce_sum_square(NodeContext& n) {
  const Reduction r = read_reduction(n, false);
  expect_numbers(n, n.input(0), false);
  const Tensor& x = n.input(0);
  return {sum(mul(x, x), r.axes, r.keepdims)};
}

std::vector<Tensor> convert_reduce_log_sum(NodeContext& n) {
  const Reduction r = read_reduction(n, false);
  expect_numbers(n, n.input(0), true);
  return {log(sum(n.input(0), r.axes, r.keepdims))};
}

// log(sum(exp(x - m))) + m with m the maximum over the axes (no overflow for large x).
std::vector<Tensor> convert_reduce_log_sum_exp(NodeContext& n) {
  const Reduction r = read_reduction(n, false);
  expect_numbers(n, n.input(0), true);
  const Tensor& x = n.input(0);
  const Tensor m = max(x, r.axes, true);
  Tensor s = log(sum(exp(sub(x, m)), r.axes, r.keepdims));
  return {add(s, r.keepdims ? m : reshape(m, s.shape()))};
}

std::vector<Tensor> arg_reduce(NodeContext& n, bool is_min) {
  n.expect_attrs({"axis", "keepdims", "select_last_index"});
  const Tensor& x = n.input(0);
  expect_numbers(n, x, false);
  if (x.dim() == 0) n.fail("input is 0-d");
  const int64_t axis = norm_axis(n, n.attr_int("axis", 0), x.dim(), "axis");
  const bool keep = n.attr_int("keepdims", 1) != 0;
  const Tensor y = is_min ? neg_any(x) : x;
  if (n.attr_int("select_last_index", 0) == 0) return {argmax(y, axis, keep)};
  // The last extreme index: the first one of the reversed axis, counted from the end.
  const int64_t size = x.size(axis);
  if (size == 0) n.fail("axis " + std::to_string(axis) + " is empty");
  std::vector<int64_t> rev(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) rev[static_cast<size_t>(i)] = size - 1 - i;
  const Tensor first = argmax(take(n, y, axis, rev, n.is_constant(0)), axis, keep);
  return {sub(Tensor::full({}, static_cast<double>(size - 1), int64), first)};
}

std::vector<Tensor> convert_argmax(NodeContext& n) {
  return arg_reduce(n, false);
}

std::vector<Tensor> convert_argmin(NodeContext& n) {
  return arg_reduce(n, true);
}

// Products have no duet op: a constant input (tf2onnx's Shape -> Slice -> ReduceProd element
// counts) is reduced on the host; a computed one is not supported.
std::vector<Tensor> convert_reduce_prod(NodeContext& n) {
  const Reduction r = read_reduction(n, false);
  const Tensor& x = n.input(0);
  expect_numbers(n, x, false);
  if (!n.is_constant(0) || x.is_symbolic()) {
    n.fail("ReduceProd of a tensor computed at run time is not supported (only of constants)");
  }
  // (kept..., reduced...) rows of `k` elements, one product per row.
  std::vector<int64_t> perm;
  Shape out;
  int64_t k = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const bool reduced = std::find(r.axes.begin(), r.axes.end(), d) != r.axes.end();
    if (!reduced) perm.push_back(d);
    if (reduced) k *= x.size(d);
    if (!reduced || r.keepdims) out.push_back(reduced ? 1 : x.size(d));
  }
  perm.insert(perm.end(), r.axes.begin(), r.axes.end());
  std::sort(perm.begin() + static_cast<int64_t>(perm.size() - r.axes.size()), perm.end());
  const Tensor rows = permute(x, perm).contiguous();
  const int64_t m = numel(out);
  if (x.dtype() == int64) {
    const std::vector<int64_t> v = rows.to_vector<int64_t>();
    std::vector<int64_t> p(static_cast<size_t>(m), 1);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < k; ++j) {
        int64_t& acc = p[static_cast<size_t>(i)];
        if (__builtin_mul_overflow(acc, v[static_cast<size_t>(i * k + j)], &acc)) {
          n.fail("the int64 product overflows");
        }
      }
    }
    return {Tensor::from_vector(p, out, int64)};
  }
  const std::vector<double> v = rows.to(float64).to_vector<double>();
  std::vector<double> p(static_cast<size_t>(m), 1.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < k; ++j) p[static_cast<size_t>(i)] *= v[static_cast<size_t>(i * k + j)];
  }
  return {Tensor::from_vector(p, out, x.dtype())};
}

const OperatorDef kReduceOperators[] = {
    {"ReduceSum", 1, convert_reduce_sum, "axes must be constant"},
    {"ReduceMean", 1, convert_reduce_mean, "float32, float64"},
    {"ReduceMax", 1, convert_reduce_max, ""},
    {"ReduceMin", 1, convert_reduce_min, "computed as -max(-x)"},
    {"ReduceProd", 1, convert_reduce_prod, "constant input only (on the host)"},
    {"ReduceL1", 1, convert_reduce_l1, "float32, float64"},
    {"ReduceL2", 1, convert_reduce_l2, "float32, float64"},
    {"ReduceSumSquare", 1, convert_reduce_sum_square, ""},
    {"ReduceLogSum", 1, convert_reduce_log_sum, "float32, float64"},
    {"ReduceLogSumExp", 1, convert_reduce_log_sum_exp, "float32, float64"},
    {"ArgMax", 1, convert_argmax, "select_last_index=1 reverses the axis (a negative-step Slice)"},
    {"ArgMin", 1, convert_argmin, "computed as argmax(-x); select_last_index as ArgMax"},
};

}  // namespace

std::span<const OperatorDef> reduce_operators() {
  return kReduceOperators;
}

}  // namespace duet::onnx::detail

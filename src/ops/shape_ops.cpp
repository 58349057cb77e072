// Shape and copy ops: reshape, permute, slice, expand, squeeze/unsqueeze, flatten, concat, pad,
// contiguous, clone, cast, sum_to, slice_backward.
#include <algorithm>
#include <numeric>

#include "core/copy.h"
#include "core/tensor_impl.h"
#include "shape_kernels.h"
#include "duet/ops/shape.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

using Ints = std::vector<int64_t>;

// ---------------------------------------------------------------------------------------
// reshape: a view when the input is contiguous, else a copy.

std::vector<TensorMeta> reshape_infer(const InferArgs& a) {
  const Shape& in = a.inputs[0].shape;
  Shape out = a.attrs.ints("shape");
  int64_t infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      DUET_CHECK(infer_at < 0, "reshape: more than one -1 in target shape ", shape_str(out));
      infer_at = static_cast<int64_t>(i);
    } else {
      DUET_CHECK(out[i] >= 0, "reshape: invalid size ", out[i], " in target shape ", shape_str(out),
                 " (expected sizes >= 0, or one -1)");
    }
  }
  const int64_t n = checked_numel(in, "reshape");
  if (infer_at >= 0) {
    Shape rest = out;
    rest[infer_at] = 1;
    const int64_t known = checked_numel(rest, "reshape");
    DUET_CHECK(known != 0 && n % known == 0, "reshape: cannot reshape ", shape_str(in), " (", n,
               " elements) into ", shape_str(out));
    out[infer_at] = n / known;
  }
  const int64_t m = checked_numel(out, "reshape");
  DUET_CHECK(m == n, "reshape: cannot reshape ", shape_str(in), " (", n, " elements) into ",
             shape_str(out), " (", m, " elements)");
  return {{out, a.inputs[0].dtype, a.inputs[0].device}};
}

Tensor reshape_view(const Tensor& x, const TensorMeta& out, const Attrs&) {
  Tensor base = x.is_contiguous() ? x : detail::contiguous_copy(x);
  return detail::make_view(base, out.shape, contiguous_strides(out.shape), base.storage_offset(),
                           "reshape");
}

std::vector<Tensor> reshape_grad(const GradArgs& g) {
  return {reshape(g.grad_outputs[0], g.input_metas[0].shape)};
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

std::vector<OpSample> reshape_samples() {
  using namespace samples;
  auto to = [](Shape s) { return Attrs().set("shape", s); };
  return {{.inputs = {normal({2, 3, 4})}, .attrs = to({4, -1})},
          {.inputs = {normal({6})}, .attrs = to({2, 1, 3})},
          {.inputs = {normal({})}, .attrs = to({1})},
          {.inputs = {normal({0, 4})}, .attrs = to({4, 0})}};
}
std::vector<OpSample> permute_samples() {
  using namespace samples;
  auto axes = [](Ints a) { return Attrs().set("axes", a); };
  return {{.inputs = {normal({2, 3, 4})}, .attrs = axes({2, 0, 1})},
          {.inputs = {normal({3, 5})}, .attrs = axes({-1, 0})},
          {.inputs = {normal({0, 4})}, .attrs = axes({1, 0})}};
}
Attrs slice_sample(int64_t axis, int64_t start, int64_t end, int64_t step) {
  return Attrs().set("axis", axis).set("start", start).set("end", end).set("step", step);
}
// Stepped, negative bounds clamped to the axis, empty.
std::vector<OpSample> slice_samples() {
  using namespace samples;
  return {{.inputs = {normal({5, 4})}, .attrs = slice_sample(0, 1, 4, 2)},
          {.inputs = {normal({3, 7})}, .attrs = slice_sample(-1, -5, 100, 1)},
          {.inputs = {normal({2, 6, 3})}, .attrs = slice_sample(1, 0, 6, 4)},
          {.inputs = {normal({4})}, .attrs = slice_sample(0, 2, 2, 1)}};
}
// The gradient of each slice sample.
std::vector<OpSample> slice_backward_samples() {
  std::vector<OpSample> r = slice_samples();
  const Shape grads[] = {{2, 4}, {3, 5}, {2, 2, 3}, {0}};
  for (size_t i = 0; i < r.size(); ++i) {
    r[i].attrs.set("input_shape", r[i].inputs[0].shape);
    r[i].inputs = {samples::normal(grads[i])};
  }
  return r;
}
std::vector<OpSample> expand_samples() {
  using namespace samples;
  auto to = [](Shape s) { return Attrs().set("shape", s); };
  return {{.inputs = {normal({3, 1})}, .attrs = to({2, 3, 4})},
          {.inputs = {normal({1})}, .attrs = to({5})},
          {.inputs = {normal({})}, .attrs = to({2, 2})},
          {.inputs = {normal({3, 1})}, .attrs = to({-1, 0})}};
}
std::vector<OpSample> sum_to_samples() {
  using namespace samples;
  auto to = [](Shape s) { return Attrs().set("shape", s); };
  return {{.inputs = {normal({2, 3, 4})}, .attrs = to({3, 1})},
          {.inputs = {normal({5})}, .attrs = to({})},
          {.inputs = {normal({4, 1, 5})}, .attrs = to({4, 1, 1})},
          {.inputs = {normal({0, 4})}, .attrs = to({4})}};
}
// Two, three (one empty) and one input.
std::vector<OpSample> concat_samples() {
  using namespace samples;
  auto axis = [](int64_t a) { return Attrs().set("axis", a); };
  return {{.inputs = {normal({2, 3}), normal({2, 4})}, .attrs = axis(1)},
          {.inputs = {normal({1, 3}), normal({2, 3}), normal({0, 3})}, .attrs = axis(0)},
          {.inputs = {normal({2, 2, 3}), normal({2, 1, 3})}, .attrs = axis(-2)},
          {.inputs = {normal({3, 5})}, .attrs = axis(-1)}};
}
std::vector<OpSample> pad_samples() {
  using namespace samples;
  auto at = [](Ints pads, double value) { return Attrs().set("pads", pads).set("value", value); };
  return {{.inputs = {normal({3, 4})}, .attrs = at({1, 2}, 0.0)},
          {.inputs = {normal({2, 3, 4})}, .attrs = at({1, 0, 0, 2}, 1.5)},
          {.inputs = {normal({0, 3})}, .attrs = at({1, 1}, 0.0)}};
}
// To each floating dtype and to int64 (truncation toward zero); no gradient through int64.
std::vector<OpSample> cast_samples() {
  using namespace samples;
  auto to = [](DType t) { return Attrs().set("dtype", static_cast<int64_t>(t)); };
  return {{.inputs = {normal({3, 5})}, .attrs = to(DType::float64)},
          {.inputs = {normal({7})}, .attrs = to(DType::float32)},
          {.inputs = {uniform({2, 3}, -5, 5)},
           .attrs = to(DType::int64),
           .skip = uint32_t(SampleCheck::no_grad)},
          {.inputs = {normal({0, 4})}, .attrs = to(DType::float32)}};
}

}  // namespace

DUET_DEFINE_OP(reshape_op, {.id = OpId::reshape,
                            .traits = static_cast<uint32_t>(OpTrait::copying_view),
                            .infer = reshape_infer,
                            .grad = reshape_grad,
                            .view = reshape_view,
                            .samples = reshape_samples})

namespace {

// ---------------------------------------------------------------------------------------
// permute

Ints check_perm(const InferArgs& a) {
  const int64_t r = static_cast<int64_t>(a.inputs[0].shape.size());
  Ints axes = a.attrs.ints("axes");
  DUET_CHECK(static_cast<int64_t>(axes.size()) == r, "permute: ", axes.size(),
             " axes given for a tensor of shape ", shape_str(a.inputs[0].shape), " (expected ", r,
             ")");
  std::vector<bool> seen(r, false);
  for (auto& ax : axes) {
    ax = normalize_axis(ax, r, "permute");
    DUET_CHECK(!seen[ax], "permute: axis ", ax, " repeated in ", shape_str(a.attrs.ints("axes")));
    seen[ax] = true;
  }
  return axes;
}

std::vector<TensorMeta> permute_infer(const InferArgs& a) {
  Ints axes = check_perm(a);
  Shape out(axes.size());
  for (size_t i = 0; i < axes.size(); ++i) out[i] = a.inputs[0].shape[axes[i]];
  return {{out, a.inputs[0].dtype, a.inputs[0].device}};
}

Tensor permute_view(const Tensor& x, const TensorMeta& out, const Attrs& attrs) {
  const Ints& axes = attrs.ints("axes");
  Shape st(axes.size());
  for (size_t i = 0; i < axes.size(); ++i)
    st[i] = x.strides()[axes[i] < 0 ? axes[i] + x.dim() : axes[i]];
  return detail::make_view(x, out.shape, st, x.storage_offset(), "permute");
}

std::vector<Tensor> permute_grad(const GradArgs& g) {
  const Ints& axes = g.attrs.ints("axes");
  const int64_t r = static_cast<int64_t>(axes.size());
  Ints inv(r);
  for (int64_t i = 0; i < r; ++i) inv[axes[i] < 0 ? axes[i] + r : axes[i]] = i;
  return {permute(g.grad_outputs[0], inv)};
}

}  // namespace

DUET_DEFINE_OP(permute_op, {.id = OpId::permute,
                            .infer = permute_infer,
                            .grad = permute_grad,
                            .view = permute_view,
                            .samples = permute_samples})

namespace {

// ---------------------------------------------------------------------------------------
// slice (Python semantics, step >= 1)

struct SliceRange {
  int64_t axis, start, len, step;
};

SliceRange slice_range(const Shape& in, const Attrs& at, const char* op) {
  int64_t axis = normalize_axis(at.i("axis"), static_cast<int64_t>(in.size()), op);
  int64_t n = in[axis], start = at.i("start"), end = at.i("end"), step = at.i("step");
  DUET_CHECK(step >= 1, op, ": step ", step, " (expected step >= 1)");
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, 0, n);
  const int64_t len = end > start ? (end - start - 1) / step + 1 : 0;  // no overflow for huge steps
  return {axis, start, len, step};
}

std::vector<TensorMeta> slice_infer(const InferArgs& a) {
  DUET_CHECK(!a.inputs[0].shape.empty(), "slice: cannot slice a 0-d tensor");
  SliceRange r = slice_range(a.inputs[0].shape, a.attrs, "slice");
  Shape out = a.inputs[0].shape;
  out[r.axis] = r.len;
  return {{out, a.inputs[0].dtype, a.inputs[0].device}};
}

Tensor slice_view(const Tensor& x, const TensorMeta& out, const Attrs& attrs) {
  SliceRange r = slice_range(x.shape(), attrs, "slice");
  Shape st = x.strides();
  const int64_t off =
      checked_add(x.storage_offset(), checked_mul(r.start, st[r.axis], "slice"), "slice");
  // An axis of length <= 1 never steps: its stride stays (a huge step cannot overflow it).
  if (r.len > 1) st[r.axis] = checked_mul(st[r.axis], r.step, "slice");
  return detail::make_view(x, out.shape, st, off, "slice");
}

std::vector<Tensor> slice_grad(const GradArgs& g) {
  const Attrs& at = g.attrs;
  return {slice_backward(g.grad_outputs[0], g.input_metas[0].shape, at.i("axis"), at.i("start"),
                         at.i("end"), at.i("step"))};
}

}  // namespace

DUET_DEFINE_OP(slice_op,
               {.id = OpId::slice, .infer = slice_infer, .grad = slice_grad, .view = slice_view,
                .samples = slice_samples})

namespace {

std::vector<TensorMeta> slice_backward_infer(const InferArgs& a) {
  Shape in = a.attrs.ints("input_shape");
  checked_numel(in, "slice_backward: input_shape");
  DUET_CHECK(!in.empty(), "slice_backward: input_shape () is 0-d (expected rank >= 1)");
  SliceRange r = slice_range(in, a.attrs, "slice_backward");
  Shape expect = in;
  expect[r.axis] = r.len;
  DUET_CHECK(a.inputs[0].shape == expect, "slice_backward: grad has shape ",
             shape_str(a.inputs[0].shape), ", expected ", shape_str(expect));
  return {{in, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> slice_backward_grad(const GradArgs& g) {
  const Attrs& at = g.attrs;
  return {slice(g.grad_outputs[0], at.i("axis"), at.i("start"), at.i("end"), at.i("step"))};
}

void slice_backward_kernel(const KernelArgs& k) {
  Tensor out = k.outputs[0];
  out.zero_();
  Tensor dst = slice_view(out, {k.inputs[0].shape(), out.dtype(), out.device()}, k.attrs);
  detail::strided_copy(k.inputs[0], dst);
}

}  // namespace

DUET_DEFINE_OP(slice_backward_op,
               {.id = OpId::slice_backward,
                .traits = static_cast<uint32_t>(OpTrait::backward),
                .infer = slice_backward_infer,
                .grad = slice_backward_grad,
                .kernels = {slice_backward_kernel},
                .samples = slice_backward_samples,
                .native_low_precision = {kNativeBFloat16 | kNativeFloat16}})

namespace {

// ---------------------------------------------------------------------------------------
// expand: broadcast view (stride 0)

std::vector<TensorMeta> expand_infer(const InferArgs& a) {
  const Shape& in = a.inputs[0].shape;
  Shape out = a.attrs.ints("shape");
  DUET_CHECK(out.size() >= in.size(), "expand: cannot expand ", shape_str(in),
             " to fewer "
             "dimensions ",
             shape_str(out));
  size_t lead = out.size() - in.size();
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t src = i < lead ? 1 : in[i - lead];
    if (out[i] == -1) {
      DUET_CHECK(i >= lead, "expand: -1 not allowed for a new leading dimension in ",
                 shape_str(out));
      out[i] = src;
    }
    DUET_CHECK(out[i] >= 0, "expand: invalid size ", out[i], " in target shape ",
               shape_str(a.attrs.ints("shape")), " (expected sizes >= 0, or -1 to keep one)");
    DUET_CHECK(src == out[i] || src == 1, "expand: cannot expand ", shape_str(in), " to ",
               shape_str(a.attrs.ints("shape")), " (dimension ", i, ": ", src, " vs ", out[i],
               "; expected equal or 1)");
  }
  return {{out, a.inputs[0].dtype, a.inputs[0].device}};
}

Tensor expand_view(const Tensor& x, const TensorMeta& out, const Attrs&) {
  size_t lead = out.shape.size() - x.shape().size();
  Shape st(out.shape.size(), 0);
  for (size_t i = lead; i < out.shape.size(); ++i)
    st[i] = x.shape()[i - lead] == out.shape[i] ? x.strides()[i - lead] : 0;
  return detail::make_view(x, out.shape, st, x.storage_offset(), "expand");
}

std::vector<Tensor> expand_grad(const GradArgs& g) {
  return {sum_to(g.grad_outputs[0], g.input_metas[0].shape)};
}

}  // namespace

DUET_DEFINE_OP(expand_op,
               {.id = OpId::expand, .infer = expand_infer, .grad = expand_grad, .view = expand_view,
                .samples = expand_samples})

namespace {

// ---------------------------------------------------------------------------------------
// sum_to: reduce broadcast dimensions (the inverse of expand)

std::vector<TensorMeta> sum_to_infer(const InferArgs& a) {
  Shape target = a.attrs.ints("shape");
  Shape b = broadcast_shapes(target, a.inputs[0].shape, "sum_to");
  DUET_CHECK(b == a.inputs[0].shape, "sum_to: ", shape_str(a.inputs[0].shape),
             " is not a broadcast of ", shape_str(target));
  return {{target, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> sum_to_grad(const GradArgs& g) {
  return {expand(g.grad_outputs[0], g.input_metas[0].shape)};
}

}  // namespace

DUET_DEFINE_OP(sum_to_op, {.id = OpId::sum_to,
                           .infer = sum_to_infer,
                           .grad = sum_to_grad,
                           .kernels = {cpu_kernels::sum_to},
                           .samples = sum_to_samples})

namespace {

// ---------------------------------------------------------------------------------------
// concat

std::vector<TensorMeta> concat_infer(const InferArgs& a) {
  DUET_CHECK(!a.inputs.empty(), "concat: no inputs (expected at least one tensor)");
  const Shape& s0 = a.inputs[0].shape;
  DUET_CHECK(!s0.empty(), "concat: cannot concatenate 0-d tensors");
  int64_t axis = normalize_axis(a.attrs.i("axis"), static_cast<int64_t>(s0.size()), "concat");
  Shape out = s0;
  out[axis] = 0;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const Shape& s = a.inputs[i].shape;
    infer::expect_same_dtype(a, 0, static_cast<int>(i));
    bool ok = s.size() == s0.size();
    for (size_t d = 0; ok && d < s.size(); ++d)
      ok = d == static_cast<size_t>(axis) || s[d] == s0[d];
    DUET_CHECK(ok, "concat: input ", i, " has shape ", shape_str(s), " but input 0 has shape ",
               shape_str(s0), "; expected equal sizes except along axis ", axis);
    out[axis] = checked_add(out[axis], s[axis], "concat: size along the axis");
  }
  return {{out, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> concat_grad(const GradArgs& g) {
  int64_t axis = normalize_axis(g.attrs.i("axis"),
                                static_cast<int64_t>(g.input_metas[0].shape.size()), "concat");
  std::vector<Tensor> r;
  int64_t at = 0;
  for (size_t i = 0; i < g.input_metas.size(); ++i) {
    int64_t n = g.input_metas[i].shape[axis];
    r.push_back(g.needs_input_grad[i] ? slice(g.grad_outputs[0], axis, at, at + n) : Tensor());
    at += n;
  }
  return r;
}

}  // namespace

DUET_DEFINE_OP(concat_op, {.id = OpId::concat,
                           .num_inputs = -1,
                           .infer = concat_infer,
                           .grad = concat_grad,
                           .kernels = {cpu_kernels::concat},
                           .samples = concat_samples,
                           .native_low_precision = {kNativeBFloat16 | kNativeFloat16}})

namespace {

// ---------------------------------------------------------------------------------------
// pad (constant)

std::vector<TensorMeta> pad_infer(const InferArgs& a) {
  const Ints& pads = a.attrs.ints("pads");
  Shape out = a.inputs[0].shape;
  DUET_CHECK(pads.size() % 2 == 0 && pads.size() / 2 <= out.size(), "pad: ", pads.size(),
             " pad values for a tensor of shape ", shape_str(out),
             " (expected an even count, two per padded axis, at most ", 2 * out.size(), ")");
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    DUET_CHECK(pads[2 * i] >= 0 && pads[2 * i + 1] >= 0, "pad: negative padding ", shape_str(pads),
               " (expected >= 0)");
    const int64_t grow = checked_add(pads[2 * i], pads[2 * i + 1], "pad: padding of one axis");
    out[out.size() - 1 - i] = checked_add(out[out.size() - 1 - i], grow, "pad: padded size");
  }
  return {{out, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> pad_grad(const GradArgs& g) {
  const Ints& pads = g.attrs.ints("pads");
  Tensor r = g.grad_outputs[0];
  const Shape& in = g.input_metas[0].shape;
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    int64_t axis = static_cast<int64_t>(in.size() - 1 - i);
    r = slice(r, axis, pads[2 * i], pads[2 * i] + in[axis]);
  }
  return {r};
}

}  // namespace

DUET_DEFINE_OP(pad_op, {.id = OpId::pad,
                        .infer = pad_infer,
                        .grad = pad_grad,
                        .kernels = {cpu_kernels::pad},
                        .samples = pad_samples,
                        .native_low_precision = {kNativeBFloat16 | kNativeFloat16}})

namespace {

// ---------------------------------------------------------------------------------------
// contiguous / clone / cast

void copy_kernel(const KernelArgs& k) {
  detail::strided_copy(k.inputs[0], k.outputs[0]);
}

std::vector<Tensor> identity_grad(const GradArgs& g) {
  return {g.grad_outputs[0]};
}

}  // namespace

DUET_DEFINE_OP(clone_op, {.id = OpId::clone,
                          .infer = infer::same_as_input,
                          .grad = identity_grad,
                          .strided_inputs = true,
                          .kernels = {copy_kernel},
                          .samples = [] { return samples::unary(); },
                          .native_low_precision = {kNativeBFloat16 | kNativeFloat16}})

namespace {

std::vector<TensorMeta> cast_infer(const InferArgs& a) {
  const int64_t t = a.attrs.i("dtype");
  DUET_CHECK(t >= 0 && t <= static_cast<int64_t>(DType::bfloat16), "cast: dtype ", t,
             " is not a dtype (expected 0..", static_cast<int>(DType::bfloat16),
             ": float32, float64, int64, bool, float16, bfloat16)");
  return {{a.inputs[0].shape, static_cast<DType>(t), a.inputs[0].device}};
}

std::vector<Tensor> cast_grad(const GradArgs& g) {
  return {cast(g.grad_outputs[0], g.input_metas[0].dtype)};
}

}  // namespace

DUET_DEFINE_OP(cast_op, {.id = OpId::cast,
                         .infer = cast_infer,
                         .grad = cast_grad,
                         .strided_inputs = true,
                         .kernels = {cpu_kernels::cast},
                         .samples = cast_samples,
                         .native_low_precision = {kNativeBFloat16 | kNativeFloat16}})

// ---- public functions -------------------------------------------------------------------

Tensor reshape(const Tensor& x, const Shape& shape, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(reshape_op(), {x}, Attrs().set("shape", shape));
}

Tensor flatten(const Tensor& x, int64_t start_axis, int64_t end_axis, std::source_location loc) {
  LocationScope scope(loc);
  const int64_t r = x.dim();
  if (r == 0) return reshape(x, {1});
  int64_t s = normalize_axis(start_axis, r, "flatten"), e = normalize_axis(end_axis, r, "flatten");
  DUET_CHECK(s <= e, "flatten: start axis ", start_axis, " is after end axis ", end_axis);
  Shape out(x.shape().begin(), x.shape().begin() + s);
  int64_t m = 1;
  for (int64_t i = s; i <= e; ++i) m *= x.shape()[i];
  out.push_back(m);
  out.insert(out.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, out);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& axes, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(permute_op(), {x}, Attrs().set("axes", axes));
}

Tensor transpose(const Tensor& x, int64_t a, int64_t b, std::source_location loc) {
  LocationScope scope(loc);
  const int64_t r = x.dim();
  a = normalize_axis(a, r, "transpose");
  b = normalize_axis(b, r, "transpose");
  std::vector<int64_t> axes(r);
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[a], axes[b]);
  return permute(x, axes);
}

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step,
             std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(slice_op(), {x},
                  Attrs().set("axis", axis).set("start", start).set("end", end).set("step", step));
}

Tensor slice_backward(const Tensor& grad, const Shape& input_shape, int64_t axis, int64_t start,
                      int64_t end, int64_t step, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(slice_backward_op(), {grad},
                  Attrs()
                      .set("input_shape", input_shape)
                      .set("axis", axis)
                      .set("start", start)
                      .set("end", end)
                      .set("step", step));
}

Tensor expand(const Tensor& x, const Shape& shape, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(expand_op(), {x}, Attrs().set("shape", shape));
}

Tensor sum_to(const Tensor& x, const Shape& shape, std::source_location loc) {
  LocationScope scope(loc);
  if (x.shape() == shape) return x;
  return call_op1(sum_to_op(), {x}, Attrs().set("shape", shape));
}

Tensor squeeze(const Tensor& x, int64_t axis, std::source_location loc) {
  LocationScope scope(loc);
  int64_t a = normalize_axis(axis, x.dim(), "squeeze");
  DUET_CHECK(x.shape()[a] == 1, "squeeze: axis ", axis, " of shape ", shape_str(x.shape()),
             " has size ", x.shape()[a], " (expected 1)");
  Shape out = x.shape();
  out.erase(out.begin() + a);
  return reshape(x, out);
}

Tensor unsqueeze(const Tensor& x, int64_t axis, std::source_location loc) {
  LocationScope scope(loc);
  int64_t a = normalize_axis(axis, x.dim() + 1, "unsqueeze");
  Shape out = x.shape();
  out.insert(out.begin() + a, 1);
  return reshape(x, out);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(concat_op(), xs, Attrs().set("axis", axis));
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value,
           std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(pad_op(), {x}, Attrs().set("pads", pads).set("value", value));
}

Tensor contiguous(const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  // Already contiguous: the same tensor (as in PyTorch), unless graph mode needs a node.
  if (x.defined() && !x.is_symbolic() && x.is_contiguous()) return x;
  return call_op1(clone_op(), {x});
}

Tensor clone(const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(clone_op(), {x});
}

Tensor cast(const Tensor& x, DType dtype, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(cast_op(), {x}, Attrs().set("dtype", static_cast<int64_t>(dtype)));
}

}  // namespace duet

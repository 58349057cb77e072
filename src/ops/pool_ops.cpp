// Pooling ops over (N, C, H, W) (or (C, H, W)) tensors with PyTorch semantics:
// max_pool2d (+ indices), max_pool2d_backward, max_pool2d_gather, avg_pool2d,
// avg_pool2d_backward, adaptive_avg_pool2d, adaptive_avg_pool2d_backward.
//
// Gradient pairs (each backward op is differentiable through its partner):
//   max_pool2d          -> max_pool2d_backward(g, indices)   (scatter-add)
//   max_pool2d_backward -> max_pool2d_gather(gg, indices)    (gather)
//   max_pool2d_gather   -> max_pool2d_backward(g, indices)
//   avg_pool2d          <-> avg_pool2d_backward
//   adaptive_avg_pool2d <-> adaptive_avg_pool2d_backward
#include <algorithm>

#include "geometry.h"
#include "pool_kernels.h"
#include "duet/ops/pool.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

using Ints = std::vector<int64_t>;

// PyTorch's pooling_output_shape, checked: kernels/geometry.h, window_out_size.
int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode,
                      const char* op) {
  return kernels::window_out_size(in, k, s, p, d, ceil_mode, op);
}

void check_pool_input(const char* op, const Shape& in, const char* what) {
  checked_numel(in, op);  // attribute shapes (input_shape) too
  DUET_CHECK(in.size() == 3 || in.size() == 4, op, ": ", what, " has shape ", shape_str(in),
             " (rank ", in.size(), "); expected (N, C, H, W) or (C, H, W)");
  for (size_t i = in.size() - 3; i < in.size(); ++i)
    DUET_CHECK(in[i] > 0, op, ": ", what, " has shape ", shape_str(in),
               "; expected non-zero C, H and W");
}

Ints pair_attr(const char* op, const Attrs& at, const char* name, int64_t lo) {
  const Ints& v = at.ints(name);
  DUET_CHECK(v.size() == 2 && v[0] >= lo && v[1] >= lo, op, ": ", name, " ", shape_str(v),
             " (expected two values >= ", lo, ")");
  return v;
}

// Output shape of a (max or avg) pooling of `in` under attrs; owns every geometry error.
Shape pool2d_output_shape(const char* op, const Shape& in, const Attrs& at) {
  check_pool_input(op, in, "input");
  const Ints kernel = pair_attr(op, at, "kernel", 1);
  const Ints stride = pair_attr(op, at, "stride", 1);
  const Ints padding = pair_attr(op, at, "padding", 0);
  const Ints dilation = at.has("dilation") ? pair_attr(op, at, "dilation", 1) : Ints{1, 1};
  DUET_CHECK(padding[0] <= kernel[0] / 2 && padding[1] <= kernel[1] / 2, op, ": padding ",
             shape_str(padding), " with kernel ", shape_str(kernel),
             " (expected padding <= kernel / 2 in each dimension)");
  const bool ceil_mode = at.b("ceil_mode");
  Shape out = in;
  const size_t r = in.size();
  for (int d = 0; d < 2; ++d)
    out[r - 2 + d] =
        pool_out_size(in[r - 2 + d], kernel[d], stride[d], padding[d], dilation[d], ceil_mode, op);
  DUET_CHECK(out[r - 2] >= 1 && out[r - 1] >= 1, op, ": input ", shape_str(in), " with kernel ",
             shape_str(kernel), ", stride ", shape_str(stride), ", padding ", shape_str(padding),
             ", dilation ", shape_str(dilation), " gives output size ", out[r - 2], "x", out[r - 1],
             " (expected >= 1; is the kernel larger than the padded input?)");
  return out;
}

// grad (P..., OH, OW) must match an output of the same leading dims as input_shape.
void check_grad_planes(const char* op, const Shape& grad, const Shape& input_shape) {
  check_pool_input(op, input_shape, "input_shape");
  DUET_CHECK(grad.size() == input_shape.size() &&
                 std::equal(grad.begin(), grad.end() - 2, input_shape.begin()),
             op, ": grad has shape ", shape_str(grad), " but input_shape is ",
             shape_str(input_shape), " (expected the same rank and leading dimensions)");
}

void expect_indices(const InferArgs& a, int i, const Shape& like) {
  DUET_CHECK(a.inputs[i].dtype == DType::int64 && a.inputs[i].shape == like, a.op,
             ": indices have shape ", shape_str(a.inputs[i].shape), " and dtype ",
             a.inputs[i].dtype, " (expected int64 of shape ", shape_str(like), ")");
}

Tensor max_pool2d_gather_impl(const Tensor& x, const Tensor& indices);

// ---------------------------------------------------------------------------------------
// max_pool2d: x -> y, indices (int64; indices get no gradient)

std::vector<TensorMeta> max_pool2d_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  Shape out = pool2d_output_shape(a.op, a.inputs[0].shape, a.attrs);
  return {{out, a.inputs[0].dtype, a.inputs[0].device}, {out, DType::int64, a.inputs[0].device}};
}

std::vector<Tensor> max_pool2d_grad(const GradArgs& g) {
  if (!g.grad_outputs[0].defined()) return {Tensor()};
  return {max_pool2d_backward(g.grad_outputs[0], g.outputs[1], g.input_metas[0].shape)};
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

Attrs pool_sample_attrs(int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  return Attrs()
      .set("kernel", Ints{k, k})
      .set("stride", Ints{s, s})
      .set("padding", Ints{p, p})
      .set("ceil_mode", ceil_mode);
}
Attrs max_sample_attrs(int64_t k, int64_t s, int64_t p, bool ceil_mode, int64_t d = 1) {
  return pool_sample_attrs(k, s, p, ceil_mode).set("dilation", Ints{d, d});
}
Attrs avg_sample_attrs(int64_t k, int64_t s, int64_t p, bool ceil_mode, bool include_pad) {
  return pool_sample_attrs(k, s, p, ceil_mode).set("count_include_pad", include_pad);
}
// Windows that tile, overlap with padding, end in a partial window (ceil_mode), dilate; a
// (C, H, W) input.
std::vector<OpSample> max_pool2d_samples() {
  using namespace samples;
  return {{.inputs = {normal({1, 2, 4, 4})}, .attrs = max_sample_attrs(2, 2, 0, false)},
          {.inputs = {normal({2, 3, 5, 5})}, .attrs = max_sample_attrs(3, 2, 1, false)},
          {.inputs = {normal({1, 2, 5, 5})}, .attrs = max_sample_attrs(2, 2, 0, true)},
          {.inputs = {normal({1, 1, 7, 6})}, .attrs = max_sample_attrs(2, 1, 1, false, 2)},
          {.inputs = {normal({2, 5, 7})}, .attrs = max_sample_attrs(3, 2, 0, false)}};
}
// (grad, indices into the H x W input plane) with input_shape; indices may repeat.
std::vector<OpSample> max_pool2d_backward_samples() {
  using namespace samples;
  return {{.inputs = {normal({1, 2, 2, 2}), index({1, 2, 2, 2}, 16)},
           .attrs = Attrs().set("input_shape", Shape{1, 2, 4, 4})},
          {.inputs = {normal({2, 3, 3, 3}), index({2, 3, 3, 3}, 25)},
           .attrs = Attrs().set("input_shape", Shape{2, 3, 5, 5})},
          {.inputs = {normal({2, 2, 3}), index({2, 2, 3}, 35)},
           .attrs = Attrs().set("input_shape", Shape{2, 5, 7})}};
}
// (x, indices into x's planes) -> values at the indices.
std::vector<OpSample> max_pool2d_gather_samples() {
  using namespace samples;
  return {{.inputs = {normal({1, 2, 4, 4}), index({1, 2, 2, 2}, 16)}},
          {.inputs = {normal({2, 3, 5, 5}), index({2, 3, 3, 3}, 25)}},
          {.inputs = {normal({2, 5, 7}), index({2, 2, 3}, 35)}}};
}
std::vector<OpSample> avg_pool2d_samples() {
  using namespace samples;
  return {{.inputs = {normal({1, 2, 4, 4})}, .attrs = avg_sample_attrs(2, 2, 0, false, true)},
          {.inputs = {normal({1, 2, 5, 5})}, .attrs = avg_sample_attrs(3, 2, 1, false, true)},
          {.inputs = {normal({2, 3, 5, 5})}, .attrs = avg_sample_attrs(3, 2, 1, true, false)},
          {.inputs = {normal({2, 5, 7})}, .attrs = avg_sample_attrs(2, 1, 0, false, true)}};
}
// The gradient of each avg_pool2d sample's x.
std::vector<OpSample> avg_pool2d_backward_samples() {
  using namespace samples;
  return {{.inputs = {normal({1, 2, 2, 2})},
           .attrs = avg_sample_attrs(2, 2, 0, false, true).set("input_shape", Shape{1, 2, 4, 4})},
          {.inputs = {normal({1, 2, 3, 3})},
           .attrs = avg_sample_attrs(3, 2, 1, false, true).set("input_shape", Shape{1, 2, 5, 5})},
          {.inputs = {normal({2, 3, 3, 3})},
           .attrs = avg_sample_attrs(3, 2, 1, true, false).set("input_shape", Shape{2, 3, 5, 5})},
          {.inputs = {normal({2, 4, 6})},
           .attrs = avg_sample_attrs(2, 1, 0, false, true).set("input_shape", Shape{2, 5, 7})}};
}
// Output smaller, larger (overlapping windows) and 1x1.
std::vector<OpSample> adaptive_avg_pool2d_samples() {
  using namespace samples;
  return {{.inputs = {normal({1, 2, 5, 5})}, .attrs = Attrs().set("output_size", Ints{3, 2})},
          {.inputs = {normal({1, 2, 5, 5})}, .attrs = Attrs().set("output_size", Ints{3, 7})},
          {.inputs = {normal({2, 3, 4, 6})}, .attrs = Attrs().set("output_size", Ints{1, 1})},
          {.inputs = {normal({2, 4, 4})}, .attrs = Attrs().set("output_size", Ints{2, 2})}};
}
std::vector<OpSample> adaptive_avg_pool2d_backward_samples() {
  using namespace samples;
  return {
      {.inputs = {normal({1, 2, 3, 2})}, .attrs = Attrs().set("input_shape", Shape{1, 2, 5, 5})},
      {.inputs = {normal({1, 2, 3, 7})}, .attrs = Attrs().set("input_shape", Shape{1, 2, 5, 5})},
      {.inputs = {normal({2, 3, 1, 1})}, .attrs = Attrs().set("input_shape", Shape{2, 3, 4, 6})},
      {.inputs = {normal({2, 2, 2})}, .attrs = Attrs().set("input_shape", Shape{2, 4, 4})}};
}

}  // namespace

DUET_DEFINE_OP(max_pool2d_op, {.id = OpId::max_pool2d,
                               .num_outputs = 2,
                               .infer = max_pool2d_infer,
                               .grad = max_pool2d_grad,
                               .save_outputs = 0b10,
                               .kernels = {cpu_kernels::max_pool2d},
                               .samples = max_pool2d_samples,
                               .native_low_precision = {kNativeBFloat16}})

namespace {

// max_pool2d_backward: grad (N, C, OH, OW), indices -> grad_in (input_shape)

std::vector<TensorMeta> max_pool2d_backward_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  const Shape in = a.attrs.ints("input_shape");
  check_grad_planes(a.op, a.inputs[0].shape, in);
  expect_indices(a, 1, a.inputs[0].shape);
  return {{in, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> max_pool2d_backward_grad(const GradArgs& g) {
  return {max_pool2d_gather_impl(g.grad_outputs[0], g.inputs[1]), Tensor()};
}

}  // namespace

DUET_DEFINE_OP(max_pool2d_backward_op, {.id = OpId::max_pool2d_backward,
                                        .num_inputs = 2,
                                        .traits = static_cast<uint32_t>(OpTrait::backward),
                                        .infer = max_pool2d_backward_infer,
                                        .grad = max_pool2d_backward_grad,
                                        .save_inputs = 0b10,
                                        .nondiff_inputs = 0b10,
                                        .kernels = {cpu_kernels::max_pool2d_backward},
                                        .samples = max_pool2d_backward_samples})

namespace {

// max_pool2d_gather: x (N, C, H, W), indices (N, C, OH, OW) -> x at indices (N, C, OH, OW)

std::vector<TensorMeta> max_pool2d_gather_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  const Shape& x = a.inputs[0].shape;
  check_pool_input(a.op, x, "x");
  const Shape& idx = a.inputs[1].shape;
  DUET_CHECK(a.inputs[1].dtype == DType::int64 && idx.size() == x.size() &&
                 std::equal(x.begin(), x.end() - 2, idx.begin()),
             a.op, ": indices have shape ", shape_str(idx), " and dtype ", a.inputs[1].dtype,
             " for x of shape ", shape_str(x),
             " (expected int64 with the same rank and leading dimensions)");
  return {{idx, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> max_pool2d_gather_grad(const GradArgs& g) {
  return {max_pool2d_backward(g.grad_outputs[0], g.inputs[1], g.input_metas[0].shape), Tensor()};
}

}  // namespace

DUET_DEFINE_OP(max_pool2d_gather_op,
               {.id = OpId::max_pool2d_gather,
                .num_inputs = 2,
                .traits = static_cast<uint32_t>(OpTrait::backward),
                .infer = max_pool2d_gather_infer,
                .grad = max_pool2d_gather_grad,
                .save_inputs = 0b10,
                .nondiff_inputs = 0b10,
                .kernels = {cpu_kernels::max_pool2d_gather},
                .samples = max_pool2d_gather_samples})

namespace {

Tensor max_pool2d_gather_impl(const Tensor& x, const Tensor& indices) {
  return call_op1(max_pool2d_gather_op(), {x, indices});
}

// ---------------------------------------------------------------------------------------
// avg_pool2d <-> avg_pool2d_backward (attrs: kernel, stride, padding, ceil_mode,
// count_include_pad; the backward adds input_shape)

Tensor avg_pool2d_backward_impl(const Tensor& grad, const Shape& input_shape, Attrs attrs);

std::vector<TensorMeta> avg_pool2d_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  return {{pool2d_output_shape(a.op, a.inputs[0].shape, a.attrs), a.inputs[0].dtype,
           a.inputs[0].device}};
}

std::vector<Tensor> avg_pool2d_grad(const GradArgs& g) {
  return {avg_pool2d_backward_impl(g.grad_outputs[0], g.input_metas[0].shape, g.attrs)};
}

}  // namespace

DUET_DEFINE_OP(avg_pool2d_op, {.id = OpId::avg_pool2d,
                               .infer = avg_pool2d_infer,
                               .grad = avg_pool2d_grad,
                               .kernels = {cpu_kernels::avg_pool2d},
                               .samples = avg_pool2d_samples})

namespace {

std::vector<TensorMeta> avg_pool2d_backward_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  const Shape in = a.attrs.ints("input_shape");
  check_grad_planes(a.op, a.inputs[0].shape, in);
  const Shape out = pool2d_output_shape(a.op, in, a.attrs);
  DUET_CHECK(a.inputs[0].shape == out, a.op, ": grad has shape ", shape_str(a.inputs[0].shape),
             " but pooling ", shape_str(in), " gives ", shape_str(out), " (expected equal)");
  return {{in, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> avg_pool2d_backward_grad(const GradArgs& g);

}  // namespace

DUET_DEFINE_OP(avg_pool2d_backward_op, {.id = OpId::avg_pool2d_backward,
                                        .traits = static_cast<uint32_t>(OpTrait::backward),
                                        .infer = avg_pool2d_backward_infer,
                                        .grad = avg_pool2d_backward_grad,
                                        .kernels = {cpu_kernels::avg_pool2d_backward},
                                        .samples = avg_pool2d_backward_samples})

namespace {

Attrs without_input_shape(const Attrs& at) {
  Attrs r;
  for (const auto& [name, v] : at.items())
    if (name != "input_shape") r.set(name, v);
  return r;
}

std::vector<Tensor> avg_pool2d_backward_grad(const GradArgs& g) {
  return {call_op1(avg_pool2d_op(), {g.grad_outputs[0]}, without_input_shape(g.attrs))};
}

Tensor avg_pool2d_backward_impl(const Tensor& grad, const Shape& input_shape, Attrs attrs) {
  return call_op1(avg_pool2d_backward_op(), {grad}, attrs.set("input_shape", input_shape));
}

// ---------------------------------------------------------------------------------------
// adaptive_avg_pool2d <-> adaptive_avg_pool2d_backward

std::vector<TensorMeta> adaptive_avg_pool2d_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  const Shape& in = a.inputs[0].shape;
  check_pool_input(a.op, in, "input");
  const Ints size = pair_attr(a.op, a.attrs, "output_size", 1);
  // The kernel's window bounds compute (i + 1) * H for i < OH.
  for (int d = 0; d < 2; ++d)
    checked_mul(size[d], in[in.size() - 2 + d], "adaptive_avg_pool2d: output_size * input size");
  Shape out = in;
  out[in.size() - 2] = size[0];
  out[in.size() - 1] = size[1];
  return {{out, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> adaptive_avg_pool2d_grad(const GradArgs& g) {
  return {adaptive_avg_pool2d_backward(g.grad_outputs[0], g.input_metas[0].shape)};
}

}  // namespace

DUET_DEFINE_OP(adaptive_avg_pool2d_op, {.id = OpId::adaptive_avg_pool2d,
                                        .infer = adaptive_avg_pool2d_infer,
                                        .grad = adaptive_avg_pool2d_grad,
                                        .kernels = {cpu_kernels::adaptive_avg_pool2d},
                                        .samples = adaptive_avg_pool2d_samples})

namespace {

std::vector<TensorMeta> adaptive_avg_pool2d_backward_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  const Shape in = a.attrs.ints("input_shape");
  check_grad_planes(a.op, a.inputs[0].shape, in);
  const Shape& g = a.inputs[0].shape;
  DUET_CHECK(g[g.size() - 2] > 0 && g[g.size() - 1] > 0, a.op, ": grad has shape ", shape_str(g),
             " (expected a non-empty output plane)");
  for (size_t d = g.size() - 2; d < g.size(); ++d)  // the kernel computes (i + 1) * H, i < OH
    checked_mul(g[d], in[d], "adaptive_avg_pool2d_backward: output size * input size");
  return {{in, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> adaptive_avg_pool2d_backward_grad(const GradArgs& g) {
  const Shape& s = g.input_metas[0].shape;
  return {adaptive_avg_pool2d(g.grad_outputs[0], {s[s.size() - 2], s[s.size() - 1]})};
}

}  // namespace

DUET_DEFINE_OP(adaptive_avg_pool2d_backward_op,
               {.id = OpId::adaptive_avg_pool2d_backward,
                .traits = static_cast<uint32_t>(OpTrait::backward),
                .infer = adaptive_avg_pool2d_backward_infer,
                .grad = adaptive_avg_pool2d_backward_grad,
                .kernels = {cpu_kernels::adaptive_avg_pool2d_backward},
                .samples = adaptive_avg_pool2d_backward_samples})

namespace {

// ---------------------------------------------------------------------------------------

Ints ints2(const std::array<int64_t, 2>& v) {
  return {v[0], v[1]};
}

// stride 0 means "same as the kernel" and is resolved here, so attrs are canonical.
Attrs pool_attrs(const Pool2dOptions& o) {
  Ints stride = ints2(o.stride);
  for (int d = 0; d < 2; ++d)
    if (stride[d] == 0) stride[d] = o.kernel[d];
  return Attrs()
      .set("kernel", ints2(o.kernel))
      .set("stride", stride)
      .set("padding", ints2(o.padding))
      .set("ceil_mode", o.ceil_mode);
}

Attrs max_attrs(const Pool2dOptions& o) {
  return pool_attrs(o).set("dilation", ints2(o.dilation));
}

Attrs avg_attrs(const char* op, const Pool2dOptions& o) {
  DUET_CHECK(o.dilation[0] == 1 && o.dilation[1] == 1, op, ": dilation ",
             shape_str(ints2(o.dilation)), " is not supported (expected (1, 1))");
  return pool_attrs(o).set("count_include_pad", o.count_include_pad);
}

}  // namespace

std::vector<Tensor> max_pool2d_with_indices(const Tensor& x, const Pool2dOptions& options,
                                            std::source_location loc) {
  LocationScope scope(loc);
  return call_op(max_pool2d_op(), {x}, max_attrs(options));
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options, std::source_location loc) {
  LocationScope scope(loc);
  return max_pool2d_with_indices(x, options)[0];
}

Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape,
                           std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(max_pool2d_backward_op(), {grad_out, indices},
                  Attrs().set("input_shape", input_shape));
}

Tensor max_pool2d_gather(const Tensor& x, const Tensor& indices, std::source_location loc) {
  LocationScope scope(loc);
  return max_pool2d_gather_impl(x, indices);
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(avg_pool2d_op(), {x}, avg_attrs("avg_pool2d", options));
}

Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape,
                           const Pool2dOptions& options, std::source_location loc) {
  LocationScope scope(loc);
  return avg_pool2d_backward_impl(grad_out, input_shape, avg_attrs("avg_pool2d_backward", options));
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size,
                           std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(adaptive_avg_pool2d_op(), {x}, Attrs().set("output_size", ints2(output_size)));
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape,
                                    std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(adaptive_avg_pool2d_backward_op(), {grad_out},
                  Attrs().set("input_shape", input_shape));
}

}  // namespace duet

// Matrix products: matmul (numpy semantics) and linear (x @ w^T + b as one GEMM).
#include "linalg_kernels.h"
#include "duet/ops/linalg.h"
#include "duet/ops/reduce.h"
#include "duet/ops/shape.h"
#include "duet/source_location.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

// ---------------------------------------------------------------------------------------
// matmul: a (..., M, K) @ b (..., K, N) -> (..., M, N); rank-1 operands promoted.

std::vector<TensorMeta> matmul_infer(const InferArgs& a) {
  const Shape& sa = a.inputs[0].shape;
  const Shape& sb = a.inputs[1].shape;
  DUET_CHECK(!sa.empty() && !sb.empty(), "matmul: a has shape ", shape_str(sa), " and b has shape ",
             shape_str(sb), "; expected both of rank >= 1");
  infer::expect_floating(a, 0);
  infer::expect_same_dtype(a, 0, 1);
  const size_t ra = sa.size(), rb = sb.size();
  const int64_t ka = sa[ra - 1];
  const int64_t kb = rb == 1 ? sb[0] : sb[rb - 2];
  DUET_CHECK(ka == kb, "matmul: inner dimensions differ: a has shape ", shape_str(sa),
             " and b has shape ", shape_str(sb),
             " (expected a.shape[-1] == ", rb == 1 ? "b.shape[0]" : "b.shape[-2]", ", got ", ka,
             " vs ", kb, ")");
  Shape ba = ra > 2 ? Shape(sa.begin(), sa.end() - 2) : Shape();
  Shape bb = rb > 2 ? Shape(sb.begin(), sb.end() - 2) : Shape();
  Shape out;
  try {
    out = broadcast_shapes(ba, bb, "matmul");
  } catch (const Error&) {
    throw Error(detail::cat("matmul: batch dimensions do not broadcast: a has shape ",
                            shape_str(sa), " and b has shape ", shape_str(sb),
                            " (expected batch shapes ", shape_str(ba), " and ", shape_str(bb),
                            " to be broadcastable)"));
  }
  if (ra > 1) out.push_back(sa[ra - 2]);
  if (rb > 1) out.push_back(sb[rb - 1]);
  return {{out, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> matmul_grad(const GradArgs& g) {
  const Tensor& a = g.inputs[0];
  const Tensor& b = g.inputs[1];
  const Shape& sa = g.input_metas[0].shape;
  const Shape& sb = g.input_metas[1].shape;
  // Work on the promoted operands: a2 (..., M, K), b2 (..., K, N), g2 (batch..., M, N).
  Tensor a2 = sa.size() == 1 ? unsqueeze(a, 0) : a;
  Tensor b2 = sb.size() == 1 ? unsqueeze(b, 1) : b;
  Shape gs = g.grad_outputs[0].shape();
  if (sb.size() == 1) gs.push_back(1);
  if (sa.size() == 1) gs.insert(gs.end() - 1, 1);
  Tensor g2 = reshape(g.grad_outputs[0], gs);
  Tensor ga, gb;
  if (g.needs_input_grad[0]) {
    Tensor bt = transpose(b2, b2.dim() - 2, b2.dim() - 1);
    ga = reshape(sum_to(matmul(g2, bt), a2.shape()), sa);
  }
  if (g.needs_input_grad[1]) {
    Tensor at = transpose(a2, a2.dim() - 2, a2.dim() - 1);
    gb = reshape(sum_to(matmul(at, g2), b2.shape()), sb);
  }
  return {ga, gb};
}

// Multiply-accumulates: a (..., M, K) @ b (..., K, N) -> (..., M, N): numel(out) * K (a 1-D a
// has K = a[0]); linear: x (..., in), w (out, in) -> (..., out): numel(out) * in.
int64_t matmul_macs(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                    const Attrs&) {
  return checked_mul(numel(out[0].shape), in[0].shape.back(), "matmul: multiply-adds");
}
int64_t linear_macs(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                    const Attrs&) {
  return checked_mul(numel(out[0].shape), in[1].shape[1], "linear: multiply-adds");
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

// Plain, batched with broadcast batch axes, rank-1 operands on either side, K = 0, empty M.
std::vector<OpSample> matmul_samples() {
  using namespace samples;
  return {{.inputs = {normal({3, 4}), normal({4, 5})}},
          {.inputs = {normal({2, 3, 4}), normal({4, 5})}},
          {.inputs = {normal({2, 1, 3, 4}), normal({3, 4, 2})}},
          {.inputs = {normal({4}), normal({4, 5})}},
          {.inputs = {normal({3, 4}), normal({4})}},
          {.inputs = {normal({3, 0}), normal({0, 5})}},
          {.inputs = {normal({0, 4}), normal({4, 5})}}};
}
// x (..., in), weight (out, in) [, bias (out)].
std::vector<OpSample> linear_samples() {
  using namespace samples;
  return {{.inputs = {normal({3, 4}), normal({5, 4}), normal({5})}},
          {.inputs = {normal({2, 3, 4}), normal({5, 4})}},
          {.inputs = {normal({7}), normal({3, 7}), normal({3})}},
          {.inputs = {normal({0, 4}), normal({5, 4}), normal({5})}}};
}

}  // namespace

DUET_DEFINE_OP(matmul_op, {.id = OpId::matmul,
                           .num_inputs = 2,
                           .infer = matmul_infer,
                           .grad = matmul_grad,
                           .save_inputs = 0b11,
                           .strided_inputs = true,
                           .kernels = {cpu_kernels::matmul},
                           .macs = matmul_macs,
                           .samples = matmul_samples,
                           .native_low_precision = {kNativeBFloat16},
                           .autocast = AutocastPolicy::lower})

namespace {

// ---------------------------------------------------------------------------------------
// linear: x (..., in), w (out, in) [, b (out)] -> (..., out)

std::vector<TensorMeta> linear_infer(const InferArgs& a) {
  DUET_CHECK(a.inputs.size() == 2 || a.inputs.size() == 3, "linear: got ", a.inputs.size(),
             " inputs, expected x, weight and an optional bias");
  const Shape& sx = a.inputs[0].shape;
  const Shape& sw = a.inputs[1].shape;
  infer::expect_floating(a, 0);
  infer::expect_same_dtype(a, 0, 1);
  DUET_CHECK(!sx.empty(), "linear: x has shape ", shape_str(sx), "; expected rank >= 1");
  DUET_CHECK(sw.size() == 2, "linear: weight has shape ", shape_str(sw),
             "; expected (out_features, in_features)");
  DUET_CHECK(sx.back() == sw[1], "linear: x has shape ", shape_str(sx), " but weight has shape ",
             shape_str(sw), " (expected x.shape[-1] == weight.shape[1], got ", sx.back(), " vs ",
             sw[1], ")");
  if (a.inputs.size() == 3) {
    infer::expect_same_dtype(a, 0, 2);
    const Shape& sb = a.inputs[2].shape;
    DUET_CHECK(sb == Shape{sw[0]}, "linear: bias has shape ", shape_str(sb),
               " but weight has shape ", shape_str(sw), " (expected bias of shape ",
               shape_str({sw[0]}), ")");
  }
  Shape out(sx.begin(), sx.end() - 1);
  out.push_back(sw[0]);
  return {{out, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> linear_grad(const GradArgs& g) {
  const Tensor& go = g.grad_outputs[0];  // (..., out)
  const Shape& sw = g.input_metas[1].shape;
  std::vector<Tensor> r(g.input_metas.size());
  if (g.needs_input_grad[0]) r[0] = matmul(go, g.inputs[1]);  // (..., out) @ (out, in)
  const bool need_w = g.needs_input_grad[1];
  const bool need_b = r.size() > 2 && g.needs_input_grad[2];
  if (need_w || need_b) {
    Tensor g2 = reshape(go, {-1, sw[0]});  // (rows, out)
    if (need_w) r[1] = matmul(transpose(g2, 0, 1), reshape(g.inputs[0], {-1, sw[1]}));
    if (need_b) r[2] = sum(g2, {0});
  }
  return r;
}

}  // namespace

DUET_DEFINE_OP(linear_op, {.id = OpId::linear,
                           .num_inputs = -1,
                           .infer = linear_infer,
                           .grad = linear_grad,
                           .save_inputs = 0b011,
                           .kernels = {cpu_kernels::linear},
                           .macs = linear_macs,
                           .samples = linear_samples,
                           .native_low_precision = {kNativeBFloat16},
                           .autocast = AutocastPolicy::lower})

Tensor matmul(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(matmul_op(), {a, b});
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, std::source_location loc) {
  LocationScope scope(loc);
  if (bias.defined()) return call_op1(linear_op(), {x, weight, bias});
  return call_op1(linear_op(), {x, weight});
}

}  // namespace duet

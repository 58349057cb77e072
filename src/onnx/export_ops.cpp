// The ONNX export mapping table: one case per duet op (a switch over OpId with no default, so
// -Wswitch, an error in CI, asks for a decision when an op is added: map it, or say why it
// has none). Each case writes the ONNX nodes of one duet node through the Emitter (export.h).
//
//   conv2d                -> Conv                  conv2d_fused -> Conv [+ Add] [+ act]
//   linear (2-D input)    -> Gemm(transB = 1)      linear (N-D) -> MatMul(x, Transpose(w)) + Add
//   relu6                 -> Clip(0, 6)            silu         -> Mul(x, Sigmoid(x))
//   hardswish             -> HardSwish (opset >= 14), else Mul(x, HardSigmoid(x))
//   gelu                  -> the Erf formula, or the Tanh one (tanh_approximation)
//   adaptive_avg_pool2d   -> GlobalAveragePool (1x1), AveragePool (sizes divide), else two
//                            MatMuls with constant pooling matrices (exact: PyTorch's windows)
//   channel_affine        -> BatchNormalization when it is nn::BatchNorm2d's inference form,
//                            else Mul + Add with (C, 1, 1) initializers
//   sum                   -> ReduceSum (axes input); mean / max -> ReduceMean / ReduceMax (axes
//                            attribute: opsets <= 17)
// Backward, optimizer, collective, random and in-place ops have no mapping: an eval graph
// never holds them, and export throws naming the op and the model line that made it.
#include <algorithm>
#include <cmath>
#include <limits>

#include "duet/ops/shape.h"
#include "onnx/export.h"

namespace duet::onnx::detail {
namespace {

using duet::detail::cat;
using Ints = std::vector<int64_t>;

int64_t norm_axis(int64_t a, size_t rank) {
  return a < 0 ? a + static_cast<int64_t>(rank) : a;
}

// y = act(x) for the activations of the fused ops and the activation ops (kernels/activations.h
// has the formulas). Writes into `y`.
void emit_activation(Emitter& e, const std::string& act, const Attrs& attrs, const std::string& x,
                     DType t, const std::string& y) {
  if (act == "none") {
    e.add("Identity", {x}, {y});
  } else if (act == "relu") {
    e.add("Relu", {x}, {y});
  } else if (act == "relu6") {
    e.add("Clip", {x, e.scalar(0, t), e.scalar(6, t)}, {y});
  } else if (act == "leaky_relu") {
    set_attr(e.add("LeakyRelu", {x}, {y}), "alpha", attrs.f("negative_slope", 0.01));
  } else if (act == "sigmoid") {
    e.add("Sigmoid", {x}, {y});
  } else if (act == "tanh") {
    e.add("Tanh", {x}, {y});
  } else if (act == "silu") {
    const std::string s = e.tmp("sigmoid");
    e.add("Sigmoid", {x}, {s});
    e.add("Mul", {x, s}, {y});
  } else if (act == "hardsigmoid") {
    auto& n = e.add("HardSigmoid", {x}, {y});
    set_attr(n, "alpha", 1.0 / 6.0);
    set_attr(n, "beta", 0.5);
  } else if (act == "hardswish") {
    if (e.opset() >= 14) {
      e.add("HardSwish", {x}, {y});
    } else {
      const std::string s = e.tmp("hardsigmoid");
      auto& n = e.add("HardSigmoid", {x}, {s});
      set_attr(n, "alpha", 1.0 / 6.0);
      set_attr(n, "beta", 0.5);
      e.add("Mul", {x, s}, {y});
    }
  } else if (act == "gelu") {
    // 0.5 x (1 + erf(x / sqrt(2))), or 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
    std::string inner;
    if (attrs.b("tanh_approximation", false)) {
      const std::string x2 = e.tmp("x2"), x3 = e.tmp("x3"), c = e.tmp("cubic"), s = e.tmp("sum");
      const std::string u = e.tmp("u");
      e.add("Mul", {x, x}, {x2});
      e.add("Mul", {x2, x}, {x3});
      e.add("Mul", {x3, e.scalar(0.044715, t)}, {c});
      e.add("Add", {x, c}, {s});
      e.add("Mul", {s, e.scalar(0.79788456080286535588, t)}, {u});
      inner = e.tmp("tanh");
      e.add("Tanh", {u}, {inner});
    } else {
      const std::string u = e.tmp("scaled");
      e.add("Mul", {x, e.scalar(0.70710678118654752440, t)}, {u});
      inner = e.tmp("erf");
      e.add("Erf", {u}, {inner});
    }
    const std::string p = e.tmp("one_plus"), h = e.tmp("half_x");
    e.add("Add", {inner, e.scalar(1, t)}, {p});
    e.add("Mul", {x, e.scalar(0.5, t)}, {h});
    e.add("Mul", {h, p}, {y});
  } else if (act == "softplus") {
    // log(1 + exp(beta x)) / beta, x where beta x > threshold. With beta 1 and threshold >= 20
    // the two agree to float precision, so a lone Softplus is written.
    const double beta = attrs.f("beta", 1.0), threshold = attrs.f("threshold", 20.0);
    if (beta == 1.0 && threshold >= 20.0) {
      e.add("Softplus", {x}, {y});
      return;
    }
    const std::string bx = e.tmp("beta_x"), sp = e.tmp("softplus"), d = e.tmp("div");
    const std::string gt = e.tmp("linear");
    e.add("Mul", {x, e.scalar(beta, t)}, {bx});
    e.add("Softplus", {bx}, {sp});
    e.add("Div", {sp, e.scalar(beta, t)}, {d});
    e.add("Greater", {bx, e.scalar(threshold, t)}, {gt});
    e.add("Where", {gt, x, d}, {y});
  } else {
    e.fail(cat("has an activation '", act, "' the exporter does not know"));
  }
}

void emit_conv(Emitter& e, const std::string& y) {
  const Node& n = e.node();
  DUET_CHECK(e.in_meta(0).shape.size() == 4, "onnx export: op '", n.op->name, "' (", e.where(),
             ") has an input of shape ", shape_str(e.in_meta(0).shape),
             " (expected (N, C, H, W): ONNX's Conv needs the batch axis)");
  const bool bias = n.op->id == OpId::conv2d ? e.num_inputs() > 2 : n.attrs.b("has_bias");
  std::vector<std::string> in{e.in(0), e.in(1)};
  if (bias) in.push_back(e.in(2));
  auto& c = e.add("Conv", in, {y});
  const Shape& w = e.in_meta(1).shape;
  const Ints& p = n.attrs.ints("padding");
  set_attr(c, "kernel_shape", Ints{w[2], w[3]});
  set_attr(c, "strides", n.attrs.ints("stride"));
  set_attr(c, "pads", Ints{p[0], p[1], p[0], p[1]});
  set_attr(c, "dilations", n.attrs.ints("dilation"));
  set_attr(c, "group", n.attrs.i("groups"));
}

// linear: x (..., K) @ w (O, K)^T + b (O)
void emit_linear(Emitter& e, bool bias, const std::string& y) {
  const size_t rank = e.in_meta(0).shape.size();
  if (rank == 2) {
    std::vector<std::string> in{e.in(0), e.in(1)};
    if (bias) in.push_back(e.in(2));
    set_attr(e.add("Gemm", in, {y}), "transB", int64_t{1});
    return;
  }
  const std::string wt = e.tmp("weight_t");
  set_attr(e.add("Transpose", {e.in(1)}, {wt}), "perm", Ints{1, 0});
  if (!bias) {
    e.add("MatMul", {e.in(0), wt}, {y});
    return;
  }
  const std::string mm = e.tmp("matmul");
  e.add("MatMul", {e.in(0), wt}, {mm});
  e.add("Add", {mm, e.in(2)}, {y});
}

// (C) vector k as a (C, 1, ..., 1) value that broadcasts against x of rank `rank`.
std::string channel_vector(Emitter& e, size_t k, size_t rank, const std::string& what) {
  const Shape& s = e.in_meta(k).shape;
  Shape to{s.empty() ? 1 : s[0]};
  for (size_t d = 2; d < rank; ++d) to.push_back(1);
  if (Tensor c = e.in_constant(k); c.defined()) return e.constant(reshape(c, to), what);
  const std::string r = e.tmp(what);
  e.add("Reshape", {e.in(k), e.int64s(to, what + "_shape")}, {r});
  return r;
}

void emit_channel_affine(Emitter& e) {
  const size_t rank = e.in_meta(0).shape.size();
  auto bn = e.context().batch_norms.find(e.node_index());
  if (bn != e.context().batch_norms.end() && rank >= 2) {
    const BatchNormPattern& p = bn->second;
    const TensorMeta& m = e.in_meta(0);
    const int64_t c = m.shape[1];
    const std::string w = p.weight.valid() ? e.value_name(p.weight)
                                           : e.constant(Tensor::ones({c}, m.dtype), "weight");
    const std::string b = p.bias.valid() ? e.value_name(p.bias)
                                         : e.constant(Tensor::zeros({c}, m.dtype), "bias");
    auto& n = e.add("BatchNormalization",
                    {e.in(0), w, b, e.value_name(p.mean), e.value_name(p.var)}, {e.out()});
    set_attr(n, "epsilon", p.eps);
    return;
  }
  const std::string scale = channel_vector(e, 1, rank, "scale");
  const std::string shift = channel_vector(e, 2, rank, "shift");
  const std::string m = e.tmp("scaled");
  e.add("Mul", {e.in(0), scale}, {m});
  e.add("Add", {m, shift}, {e.out()});
}

// Pools read (N, C, H, W) or (C, H, W); ONNX's need the batch axis, so a (C, H, W) input is
// reshaped to (1, C, H, W) and the result back. Returns the names to read and to write.
struct Batched {
  std::string in, out;
  bool reshaped = false;
};
Batched batched(Emitter& e) {
  const Shape& s = e.in_meta(0).shape;
  if (s.size() == 4) return {e.in(0), e.out(), false};
  if (s.size() != 3)
    e.fail(cat("has an input of shape ", shape_str(s), " (expected (N, C, H, W) or (C, H, W))"));
  const std::string x = e.tmp("batched");
  e.add("Reshape", {e.in(0), e.int64s({1, s[0], s[1], s[2]}, "batched_shape")}, {x});
  return {x, e.tmp("pooled"), true};
}
void unbatch(Emitter& e, const Batched& b) {
  if (b.reshaped) e.add("Reshape", {b.out, e.int64s(e.out_meta().shape, "shape")}, {e.out()});
}

// ceil_mode: PyTorch (and duet) drop a last window that would start in the right padding;
// ONNX's ceil_mode keeps it. Where that changes the output size, the pool is written with
// ceil_mode 0 and end pads that give exactly duet's windows: for max pooling (padding never
// wins) and average pooling without count_include_pad (the divisor counts input cells only)
// that is all; with count_include_pad the left/right padding is made explicit zeros (Pad) and
// the pool counts only those cells, which is PyTorch's divisor (the window clipped to the
// padded input).
void emit_pool(Emitter& e, const char* type) {
  const Node& n = e.node();
  const bool is_max = n.op->id == OpId::max_pool2d;
  const Batched b = batched(e);
  const Ints& p = n.attrs.ints("padding");
  const Ints& k = n.attrs.ints("kernel");
  const Ints& st = n.attrs.ints("stride");
  const Ints d = is_max ? n.attrs.ints("dilation") : Ints{1, 1};
  const bool ceil = n.attrs.b("ceil_mode");
  const bool include_pad = !is_max && n.attrs.b("count_include_pad");
  const Shape& in = e.in_meta(0).shape;
  const Shape& out = e.out_meta().shape;
  const size_t r = in.size();
  bool differs = false;
  for (size_t a = 0; a < 2; ++a) {
    const int64_t span = in[r - 2 + a] + 2 * p[a] - (d[a] * (k[a] - 1) + 1);
    differs = differs || (ceil && (span + st[a] - 1) / st[a] + 1 != out[r - 2 + a]);
  }
  // The right pad (>= 0) after `left` cells of left padding that gives duet's output size
  // with floor rounding.
  auto end_pad = [&](size_t a, int64_t left) {
    const int64_t size = in[r - 2 + a] + left, o = out[r - 2 + a];
    const int64_t keff = d[a] * (k[a] - 1) + 1;
    const int64_t pe = std::max<int64_t>(0, (o - 1) * st[a] + keff - size);
    if ((size + pe - keff) / st[a] + 1 != o)
      e.fail(cat("has ceil_mode windows ONNX cannot express (input ", shape_str(in), ", output ",
                 shape_str(out), ")"));
    return pe;
  };
  std::string x = b.in;
  Ints pads{p[0], p[1], p[0], p[1]};
  int64_t ceil_attr = ceil ? 1 : 0;
  bool count_pad = include_pad;
  if (differs) {
    ceil_attr = 0;
    if (!include_pad) {
      pads = {p[0], p[1], end_pad(0, p[0]), end_pad(1, p[1])};
    } else {
      x = e.tmp("padded");
      e.add("Pad",
            {b.in, e.int64s({0, 0, p[0], p[1], 0, 0, p[0], p[1]}, "pads"),
             e.scalar(0, e.in_meta(0).dtype)},
            {x});
      pads = {0, 0, end_pad(0, 2 * p[0]), end_pad(1, 2 * p[1])};
      count_pad = false;
    }
  }
  auto& pool = e.add(type, {x}, {b.out});
  set_attr(pool, "kernel_shape", k);
  set_attr(pool, "strides", st);
  set_attr(pool, "pads", pads);
  set_attr(pool, "ceil_mode", ceil_attr);
  if (is_max)
    set_attr(pool, "dilations", d);
  else
    set_attr(pool, "count_include_pad", int64_t{count_pad ? 1 : 0});
  unbatch(e, b);
}

// PyTorch's adaptive windows as a matrix: row i averages [floor(i n / o), ceil((i + 1) n / o)).
Tensor pooling_matrix(int64_t o, int64_t n, DType t) {
  std::vector<double> m(static_cast<size_t>(o * n), 0.0);
  for (int64_t i = 0; i < o; ++i) {
    const int64_t a = (i * n) / o, b = ((i + 1) * n + o - 1) / o;
    for (int64_t j = a; j < b; ++j) m[static_cast<size_t>(i * n + j)] = 1.0 / static_cast<double>(b - a);
  }
  return Tensor::from_vector(m, {o, n}, t);
}

void emit_adaptive_avg_pool(Emitter& e) {
  const Shape& s = e.in_meta(0).shape;
  const Ints& o = e.node().attrs.ints("output_size");
  const int64_t h = s[s.size() - 2], w = s[s.size() - 1];
  if (o[0] == 1 && o[1] == 1) {
    const Batched b = batched(e);
    e.add("GlobalAveragePool", {b.in}, {b.out});
    unbatch(e, b);
  } else if (h % o[0] == 0 && w % o[1] == 0) {
    const Batched b = batched(e);
    auto& p = e.add("AveragePool", {b.in}, {b.out});
    set_attr(p, "kernel_shape", Ints{h / o[0], w / o[1]});
    set_attr(p, "strides", Ints{h / o[0], w / o[1]});
    unbatch(e, b);
  } else {
    // y = P_h (oh, H) @ x (N, C, H, W) @ P_w^T (W, ow): exact for any sizes.
    const DType t = e.in_meta(0).dtype;
    const std::string rows = e.tmp("rows");
    e.add("MatMul", {e.constant(pooling_matrix(o[0], h, t), "pool_h"), e.in(0)}, {rows});
    const Tensor pw = pooling_matrix(o[1], w, t);
    e.add("MatMul", {rows, e.constant(permute(pw, {1, 0}).contiguous(), "pool_w")}, {e.out()});
  }
}

void emit_reduce(Emitter& e, const char* type) {
  const Node& n = e.node();
  const Ints& axes = n.attrs.ints("axes");
  const int64_t keep = n.attrs.b("keepdim") ? 1 : 0;
  if (std::string(type) == "ReduceSum") {
    std::vector<std::string> in{e.in(0)};
    if (!axes.empty()) in.push_back(e.int64s(axes, "axes"));
    set_attr(e.add(type, in, {e.out()}), "keepdims", keep);
    return;
  }
  // ReduceMean / ReduceMax take axes as an attribute up to opset 17 (an input from 18).
  auto& r = e.add(type, {e.in(0)}, {e.out()});
  if (!axes.empty()) set_attr(r, "axes", axes);
  set_attr(r, "keepdims", keep);
}

void emit_reshape(Emitter& e) {
  Shape target = e.out_meta().shape;
  const Shape& in = e.in_meta(0).shape;
  for (int64_t d : target)
    if (d == 0) e.fail("reshapes to an empty shape (ONNX's Reshape reads 0 as 'copy the input's')");
  // dynamic_batch: the batch size is not baked in. 0 copies the input's axis 0; -1 lets a
  // merged batch axis (N * k) grow with it.
  if (e.dynamic_batch() && e.batch_axis_of_input(0) == 0 && !target.empty() && !in.empty() &&
      in[0] > 0) {
    if (target[0] == in[0])
      target[0] = 0;
    else if (target[0] % in[0] == 0)
      target[0] = -1;
  }
  e.add("Reshape", {e.in(0), e.int64s(target, "shape")}, {e.out()});
}

void emit_slice(Emitter& e) {
  const Node& n = e.node();
  const Shape& s = e.in_meta(0).shape;
  const int64_t axis = norm_axis(n.attrs.i("axis"), s.size());
  const int64_t dim = s[static_cast<size_t>(axis)];
  int64_t start = n.attrs.i("start"), end = n.attrs.i("end");
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  start = std::clamp<int64_t>(start, 0, dim);
  end = std::clamp<int64_t>(end, 0, dim);
  // To the end of the axis: INT64_MAX, so the slice also fits another batch size.
  if (end >= dim) end = std::numeric_limits<int64_t>::max();
  e.add("Slice",
        {e.in(0), e.int64s({start}, "starts"), e.int64s({end}, "ends"), e.int64s({axis}, "axes"),
         e.int64s({n.attrs.i("step")}, "steps")},
        {e.out()});
}

void emit_expand(Emitter& e) {
  // Expand broadcasts both ways, so 1 wherever the input keeps its size (the batch axis too).
  Shape target = e.out_meta().shape;
  const Shape& in = e.in_meta(0).shape;
  const size_t lead = target.size() - in.size();
  for (size_t d = lead; d < target.size(); ++d)
    if (in[d - lead] == target[d]) target[d] = 1;
  e.add("Expand", {e.in(0), e.int64s(target, "shape")}, {e.out()});
}

void emit_sum_to(Emitter& e) {
  const Shape& in = e.in_meta(0).shape;
  const Shape& to = e.out_meta().shape;
  const size_t lead = in.size() - to.size();
  Ints axes;
  for (size_t d = 0; d < in.size(); ++d)
    if (d < lead || (to[d - lead] == 1 && in[d] != 1)) axes.push_back(static_cast<int64_t>(d));
  if (axes.empty()) {
    e.add("Reshape", {e.in(0), e.int64s(to, "shape")}, {e.out()});
    return;
  }
  const std::string r = e.tmp("sum");
  set_attr(e.add("ReduceSum", {e.in(0), e.int64s(axes, "axes")}, {r}), "keepdims", int64_t{1});
  e.add("Reshape", {r, e.int64s(to, "shape")}, {e.out()});
}

void emit_pad(Emitter& e) {
  // duet's pads (PyTorch's F.pad): (begin, end) pairs from the last axis backwards.
  const Ints& p = e.node().attrs.ints("pads");
  const size_t rank = e.in_meta(0).shape.size();
  Ints pads(2 * rank, 0);
  for (size_t i = 0; i < p.size() / 2; ++i) {
    const size_t axis = rank - 1 - i;
    pads[axis] = p[2 * i];
    pads[rank + axis] = p[2 * i + 1];
  }
  auto& n = e.add("Pad",
                  {e.in(0), e.int64s(pads, "pads"),
                   e.scalar(e.node().attrs.f("value"), e.in_meta(0).dtype)},
                  {e.out()});
  set_attr(n, "mode", std::string("constant"));
}

void unary(Emitter& e, const char* type) {
  e.add(type, {e.in(0)}, {e.out()});
}
void binary(Emitter& e, const char* type) {
  e.add(type, {e.in(0), e.in(1)}, {e.out()});
}
// x <op> value, or value <op> x (reverse), with the attr as a scalar initializer.
void scalar_op(Emitter& e, const char* type, const char* attr, bool reverse = false) {
  const std::string s = e.scalar(e.node().attrs.f(attr), e.in_meta(0).dtype);
  e.add(type, reverse ? std::vector<std::string>{s, e.in(0)} : std::vector<std::string>{e.in(0), s},
        {e.out()});
}
void activation_op(Emitter& e, const char* act) {
  emit_activation(e, act, e.node().attrs, e.in(0), e.in_meta(0).dtype, e.out());
}

[[noreturn]] void no_mapping(Emitter& e, const std::string& why) {
  e.fail("has no ONNX mapping: " + why);
}

}  // namespace

void export_op(Emitter& e) {
  const Node& n = e.node();
  const OpId id = n.op->id;
  switch (id) {
    // ---- activations
    case OpId::relu: return unary(e, "Relu");
    case OpId::relu6: return activation_op(e, "relu6");
    case OpId::leaky_relu: return activation_op(e, "leaky_relu");
    case OpId::sigmoid: return unary(e, "Sigmoid");
    case OpId::tanh: return unary(e, "Tanh");
    case OpId::silu: return activation_op(e, "silu");
    case OpId::hardsigmoid: return activation_op(e, "hardsigmoid");
    case OpId::hardswish: return activation_op(e, "hardswish");
    case OpId::gelu: return activation_op(e, "gelu");
    case OpId::softplus: return activation_op(e, "softplus");
    // ---- unary math
    case OpId::neg: return unary(e, "Neg");
    case OpId::exp: return unary(e, "Exp");
    case OpId::log: return unary(e, "Log");
    case OpId::sqrt: return unary(e, "Sqrt");
    case OpId::rsqrt: {
      const std::string s = e.tmp("sqrt");
      e.add("Sqrt", {e.in(0)}, {s});
      e.add("Reciprocal", {s}, {e.out()});
      return;
    }
    case OpId::abs: return unary(e, "Abs");
    case OpId::erf: return unary(e, "Erf");
    case OpId::sign: return unary(e, "Sign");
    case OpId::add_scalar: return scalar_op(e, "Add", "value");
    case OpId::mul_scalar: return scalar_op(e, "Mul", "value");
    case OpId::rsub_scalar: return scalar_op(e, "Sub", "value", true);
    case OpId::rdiv_scalar: return scalar_op(e, "Div", "value", true);
    case OpId::pow: return scalar_op(e, "Pow", "exponent");
    case OpId::clamp: {
      const DType t = e.in_meta(0).dtype;
      e.add("Clip", {e.in(0), e.scalar(n.attrs.f("lo"), t), e.scalar(n.attrs.f("hi"), t)},
            {e.out()});
      return;
    }
    // ---- binary math and comparisons (ONNX broadcasts like numpy, as duet does)
    case OpId::add: return binary(e, "Add");
    case OpId::sub: return binary(e, "Sub");
    case OpId::mul: return binary(e, "Mul");
    case OpId::div: return binary(e, "Div");
    case OpId::maximum: return binary(e, "Max");
    case OpId::minimum: return binary(e, "Min");
    case OpId::eq: return binary(e, "Equal");
    case OpId::ne: {
      const std::string q = e.tmp("equal");
      e.add("Equal", {e.in(0), e.in(1)}, {q});
      e.add("Not", {q}, {e.out()});
      return;
    }
    case OpId::lt: return binary(e, "Less");
    case OpId::le: return binary(e, "LessOrEqual");
    case OpId::gt: return binary(e, "Greater");
    case OpId::ge: return binary(e, "GreaterOrEqual");
    case OpId::where:
      e.add("Where", {e.in(0), e.in(1), e.in(2)}, {e.out()});
      return;
    // ---- matrix products, convolutions
    case OpId::matmul: return binary(e, "MatMul");
    case OpId::linear: return emit_linear(e, e.num_inputs() > 2, e.out());
    case OpId::conv2d: return emit_conv(e, e.out());
    case OpId::conv2d_fused: {
      const bool residual = n.attrs.b("has_residual");
      const std::string act = n.attrs.s("activation");
      std::string y = residual || act != "none" ? e.tmp("conv") : e.out();
      emit_conv(e, y);
      if (residual) {
        const std::string r = act != "none" ? e.tmp("residual") : e.out();
        e.add("Add", {y, e.in(e.num_inputs() - 1)}, {r});
        y = r;
      }
      if (act != "none") emit_activation(e, act, n.attrs, y, e.out_meta().dtype, e.out());
      return;
    }
    case OpId::linear_fused: {
      const std::string act = n.attrs.s("activation");
      const std::string y = act != "none" ? e.tmp("linear") : e.out();
      emit_linear(e, n.attrs.b("has_bias"), y);
      if (act != "none") emit_activation(e, act, n.attrs, y, e.out_meta().dtype, e.out());
      return;
    }
    case OpId::add_relu: {
      const std::string s = e.tmp("sum");
      e.add("Add", {e.in(0), e.in(1)}, {s});
      e.add("Relu", {s}, {e.out()});
      return;
    }
    // ---- pooling
    case OpId::max_pool2d:
      if (e.context().used.count({e.node_index(), 1}))
        no_mapping(e, "its indices output (duet's flat index within each (H, W) plane) is read, "
                      "and ONNX's MaxPool indices count over the whole tensor");
      return emit_pool(e, "MaxPool");
    case OpId::avg_pool2d: return emit_pool(e, "AveragePool");
    case OpId::adaptive_avg_pool2d: return emit_adaptive_avg_pool(e);
    // ---- normalisation
    case OpId::channel_affine: return emit_channel_affine(e);
    case OpId::batch_norm_train:
      no_mapping(e, "training-mode batch norm normalises with the batch's statistics; export an "
                    "eval graph (nn::BatchNorm2d then records its inference form)");
    // ---- reductions, softmax, loss
    case OpId::sum: return emit_reduce(e, "ReduceSum");
    case OpId::mean: return emit_reduce(e, "ReduceMean");
    case OpId::max: return emit_reduce(e, "ReduceMax");
    case OpId::argmax: {
      if (e.in_meta(0).shape.empty()) no_mapping(e, "argmax of a 0-d tensor");
      auto& a = e.add("ArgMax", {e.in(0)}, {e.out()});
      set_attr(a, "axis", n.attrs.i("axis"));
      set_attr(a, "keepdims", int64_t{n.attrs.b("keepdim") ? 1 : 0});
      return;
    }
    case OpId::softmax:
      set_attr(e.add("Softmax", {e.in(0)}, {e.out()}), "axis", n.attrs.i("axis"));
      return;
    case OpId::log_softmax:
      set_attr(e.add("LogSoftmax", {e.in(0)}, {e.out()}), "axis", n.attrs.i("axis"));
      return;
    case OpId::cross_entropy: {
      if (n.attrs.f("label_smoothing") != 0.0)
        no_mapping(e, cat("label_smoothing = ", n.attrs.f("label_smoothing"),
                          " (ONNX's SoftmaxCrossEntropyLoss has none; expected 0)"));
      auto& l = e.add("SoftmaxCrossEntropyLoss", {e.in(0), e.in(1)}, {e.out(0), e.out(1)});
      set_attr(l, "reduction", std::string("mean"));
      return;
    }
    // ---- shapes
    case OpId::reshape: return emit_reshape(e);
    case OpId::permute: {
      Ints perm;
      for (int64_t a : n.attrs.ints("axes")) perm.push_back(norm_axis(a, e.in_meta(0).shape.size()));
      set_attr(e.add("Transpose", {e.in(0)}, {e.out()}), "perm", perm);
      return;
    }
    case OpId::slice: return emit_slice(e);
    case OpId::expand: return emit_expand(e);
    case OpId::sum_to: return emit_sum_to(e);
    case OpId::concat: {
      std::vector<std::string> in;
      for (size_t k = 0; k < e.num_inputs(); ++k) in.push_back(e.in(k));
      set_attr(e.add("Concat", in, {e.out()}), "axis",
               norm_axis(n.attrs.i("axis"), e.in_meta(0).shape.size()));
      return;
    }
    case OpId::pad: return emit_pad(e);
    case OpId::clone: return unary(e, "Identity");
    case OpId::cast:
      set_attr(e.add("Cast", {e.in(0)}, {e.out()}), "to",
               int64_t{onnx_dtype(static_cast<DType>(n.attrs.i("dtype")))});
      return;
    case OpId::to_device: return unary(e, "Identity");  // ONNX has no devices
    // ---- no mapping: gradient ops (graph autodiff emits them, never a forward eval graph)
    case OpId::relu_backward:
    case OpId::relu6_backward:
    case OpId::leaky_relu_backward:
    case OpId::sigmoid_backward:
    case OpId::tanh_backward:
    case OpId::silu_backward:
    case OpId::hardsigmoid_backward:
    case OpId::hardswish_backward:
    case OpId::gelu_backward:
    case OpId::softplus_backward:
    case OpId::clamp_backward:
    case OpId::conv2d_backward_input:
    case OpId::conv2d_backward_weight:
    case OpId::max_pool2d_backward:
    case OpId::max_pool2d_gather:
    case OpId::avg_pool2d_backward:
    case OpId::adaptive_avg_pool2d_backward:
    case OpId::batch_norm_backward:
    case OpId::max_backward:
    case OpId::softmax_backward:
    case OpId::log_softmax_backward:
    case OpId::cross_entropy_backward:
    case OpId::slice_backward:
      no_mapping(e, "it is a gradient op; ONNX export writes forward eval graphs");
    // ---- in-place updates: optimizer steps, running statistics
    case OpId::running_stat_update_:
    case OpId::sgd_step_:
    case OpId::adam_step_:
    case OpId::increment_:
    case OpId::sgd_step_multi_:
    case OpId::sgd_momentum_step_multi_:
    case OpId::adam_step_multi_:
    case OpId::linear_grad_adam_step_:
      no_mapping(e, "it updates tensors in place (an optimizer step or running statistics, "
                    "training only); ONNX export writes forward eval graphs");
    case OpId::dropout:
      no_mapping(e, "it is random (dropout draws a mask in training; in an eval graph "
                    "nn::Dropout records nothing)");
    case OpId::all_reduce_start:
    case OpId::all_reduce_wait:
    case OpId::all_reduce_sum:
      no_mapping(e, "it is a collective (it talks to the other ranks of a process group)");
    case OpId::to_nchwc:
    case OpId::from_nchwc:
    case OpId::nchwc_pack_weight:
    case OpId::conv2d_nchwc:
    case OpId::depthwise_conv2d_nchwc:
    case OpId::max_pool2d_nchwc:
    case OpId::avg_pool2d_nchwc:
    case OpId::global_avg_pool_nchwc:
      no_mapping(e, "it is an op of duet's blocked CPU layout, which only the compiler's "
                    "nchwc_layout pass emits (export runs without it)");
    case OpId::amp_unscale:
    case OpId::amp_update_scale_:
      no_mapping(e, "it is a loss-scaling op of a training step (duet/amp.h); ONNX export "
                    "writes forward eval graphs");
    case OpId::count:
      break;
  }
  no_mapping(e, "unknown op id");
}

// ---------------------------------------------------------------------------------------
// Where the batch axis goes (dynamic_batch).

int batch_axis_after(const Node& n, const std::vector<int>& in, const GraphData& g, int output) {
  const Shape& out = n.outputs[static_cast<size_t>(output)].shape;
  const int ro = static_cast<int>(out.size());
  auto in_shape = [&](size_t k) -> const Shape& { return g.meta(n.inputs[k]).shape; };
  const int a = in.empty() ? -1 : in[0];
  switch (n.op->id) {
    case OpId::reshape: {
      const Shape& s = in_shape(0);
      if (a != 0 || out.empty() || s.empty() || s[0] <= 0) return -1;
      return out[0] == s[0] || out[0] % s[0] == 0 ? 0 : -1;
    }
    case OpId::permute: {
      if (a < 0) return -1;
      const Ints& axes = n.attrs.ints("axes");
      for (size_t j = 0; j < axes.size(); ++j)
        if (norm_axis(axes[j], axes.size()) == a) return static_cast<int>(j);
      return -1;
    }
    case OpId::slice:
      return a >= 0 && norm_axis(n.attrs.i("axis"), in_shape(0).size()) != a ? a : -1;
    case OpId::concat:
      return a >= 0 && norm_axis(n.attrs.i("axis"), in_shape(0).size()) != a ? a : -1;
    case OpId::sum:
    case OpId::mean:
    case OpId::max:
    case OpId::argmax: {
      if (a < 0) return -1;
      const Shape& s = in_shape(0);
      Ints axes = n.op->id == OpId::argmax ? Ints{n.attrs.i("axis")} : n.attrs.ints("axes");
      if (axes.empty()) return -1;
      int before = 0;
      for (int64_t x : axes) {
        const int64_t ax = norm_axis(x, s.size());
        if (ax == a) return -1;
        if (ax < a) ++before;
      }
      return n.attrs.b("keepdim") ? a : a - before;
    }
    case OpId::sum_to:
    case OpId::cross_entropy:
      return -1;
    case OpId::matmul:
    case OpId::linear:
    case OpId::linear_fused: {
      const int r0 = static_cast<int>(in_shape(0).size());
      if (a < 0 || r0 < 2 || a >= r0 - 1) return -1;
      return a + (ro - r0);
    }
    default:
      break;
  }
  for (size_t k = 0; k < in.size(); ++k) {
    if (in[k] < 0) continue;
    const Shape& s = in_shape(k);
    const int b = in[k] + (ro - static_cast<int>(s.size()));
    if (b >= 0 && b < ro && out[static_cast<size_t>(b)] == s[static_cast<size_t>(in[k])]) return b;
    return -1;
  }
  return -1;
}

}  // namespace duet::onnx::detail

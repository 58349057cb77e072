// nchwc_layout (eval graphs on the CPU): runs convolutions, pooling and elementwise chains on
// the blocked channel layout nChw16c (kernels/nchwc_kernels.h), converting only at the edges.
//
//   %3 = conv2d_fused(%0 x (1, 3, 64, 64), %1 w, %2 b) -> (1, 64, 32, 32)      relu
//   %5 = conv2d_fused(%3, %4 w2) -> (1, 64, 32, 32)                            relu
//   %6 = reshape(%5) ...
// becomes
//   %7 = nchwc_pack_weight(%1) -> (4, 3, 7, 7, 16)                  [hoisted]  "plain_input"
//   %8 = conv2d_nchwc(%0, %7, %2) -> (1, 4, 32, 32, 16) nChw16c                 x stays plain
//   %9 = nchwc_pack_weight(%4) -> (4, 4, 3, 3, 16, 16)              [hoisted]  "dense"
//   %10 = conv2d_nchwc(%8, %9) -> (1, 4, 32, 32, 16) nChw16c
//   %11 = from_nchwc(%10) -> (1, 64, 32, 32)                                   the one reorder
//   %6 = reshape(%11) ...
//
// One forward sweep over the nodes (topological order), each node seeing its inputs' final
// layout:
//   - conv2d / conv2d_fused on a 4-D float32 CPU x: groups 1 -> conv2d_nchwc, format
//     "plain_input" when x is plain and has C <= 4 channels (the RGB stem: x stays plain), else
//     "dense" (x blocked, converted with to_nchwc if it is plain); depthwise (groups == C == O)
//     -> depthwise_conv2d_nchwc; other grouped convs stay plain. The weight (a capture, or
//     fold_batch_norm's scaled weight: both from captures only) is read through a
//     nchwc_pack_weight node, which the hoist pass computes once (and again after a weight
//     changes). Bias, activation and residual carry over (a plain residual is converted).
//   - add / add_relu of a blocked convolution without residual or activation (read only
//     there) and a value of the same shape: the convolution takes it as its residual
//     (MobileNetV2's and EfficientNet's linear bottlenecks).
//   - with a blocked activation input: max_pool2d (indices unread) / avg_pool2d -> *_nchwc,
//     adaptive_avg_pool2d to (1, 1) -> global_avg_pool_nchwc, and the elementwise ops of
//     kElementwise below, whose result stays finite on the finite padding channels (the
//     padding invariant of nchwc_kernels.h; div, log, rsqrt, ... are not there). A binary op's
//     other operand may be blocked with the same channels (broadcasting N, H, W: the
//     squeeze-excitation mul of (N, C, H, W) by (N, C, 1, 1)), a one-element tensor (as is),
//     a value broadcastable to (N, C, H, W) with C channels (to_nchwc, hoisted for constants)
//     or with 1 channel (reshaped to (n, 1, h, w, 1)).
//   - any other reader of a blocked value, and every requested output, reads from_nchwc of
//     it: one node per value, shared by its readers; likewise one to_nchwc per plain value.
//     A value converted back is never converted forth again (the blocked original is used).
// Replaced nodes are marked dead; the new nodes move to just before their first reader.
// Graphs that write anything in place are left alone. Eval only, skipped with bit_exact (the
// blocked kernels sum in another order); CompileOptions::disabled_passes{"nchwc_layout"}.
// Only when the kernels run their AVX-512 paths (simd::kernel_isa(); DUET_CPU_ISA=generic
// turns the pass off): the generic blocked convolution is the reference and fallback, several
// times slower than the plain im2col + GEMM one. force_nchwc_layout(true) (tests) runs it on
// any CPU.
#include <atomic>
#include <map>
#include <set>

#include "duet/ops/shape.h"
#include "duet/simd.h"
#include "graph/passes.h"
#include "nchwc_kernels.h"

namespace duet::detail {
namespace {

using kernels::nchwc_blocks;

std::atomic<bool> g_forced{false};

// Finite on finite inputs: may run on the padding channels (kernels/nchwc_kernels.h).
bool is_blockable_unary(OpId id) {
  switch (id) {
    case OpId::relu:
    case OpId::relu6:
    case OpId::leaky_relu:
    case OpId::sigmoid:
    case OpId::tanh:
    case OpId::silu:
    case OpId::hardsigmoid:
    case OpId::hardswish:
    case OpId::gelu:
    case OpId::neg:
    case OpId::abs:
    case OpId::clamp:
    case OpId::add_scalar:
    case OpId::mul_scalar:
    case OpId::rsub_scalar:
      return true;
    default:
      return false;
  }
}
bool is_blockable_binary(OpId id) {
  switch (id) {
    case OpId::add:
    case OpId::sub:
    case OpId::mul:
    case OpId::add_relu:
    case OpId::maximum:
    case OpId::minimum:
      return true;
    default:
      return false;
  }
}

bool cpu_f32(const TensorMeta& m) {
  return m.dtype == DType::float32 && m.device.type == DeviceType::cpu && m.layout == Layout::plain;
}

struct Layouter {
  PassContext& ctx;
  GraphData& g = ctx.graph;
  const int32_t n = static_cast<int32_t>(g.nodes.size());  // nodes before this pass
  const std::vector<std::vector<int>> uses = count_uses(ctx);
  std::map<ValueRef, ValueRef> blocked_of;  // a logical value -> its nChw16c twin
  std::set<int32_t> replaced;               // nodes whose output 0 only the twin holds now
  std::map<ValueRef, ValueRef> plain_of;    // from_nchwc of a replaced value
  std::map<std::pair<ValueRef, std::string>, ValueRef> packed;  // (weight, format)

  bool is_replaced(ValueRef v) const { return replaced.count(v.node) != 0 && v.output == 0; }
  bool has_blocked(ValueRef v) const { return blocked_of.count(v) != 0; }

  // Records what `f` emits (returning the tensor of interest) at node `at`'s location.
  template <class F>
  ValueRef emit(int32_t at, F f) {
    ValueRef r;
    emit_into(g, g.nodes[at].loc, [&] { r = graph_value(f())->ref; });
    return r;
  }
  Tensor sym(ValueRef v) { return g.symbolic(v); }
  ValueRef mark_blocked(ValueRef v) {
    g.nodes[v.node].outputs[v.output].layout = Layout::nchw16c;
    return v;
  }

  // The plain value of logical value v (its from_nchwc when its producer was replaced).
  ValueRef plain(ValueRef v, int32_t at) {
    if (!is_replaced(v)) return v;
    auto it = plain_of.find(v);
    if (it != plain_of.end()) return it->second;
    const int64_t c = g.meta(v).shape[1];
    const ValueRef b = blocked_of.at(v);
    const ValueRef p = emit(at, [&] {
      return call_op1(op_def(OpId::from_nchwc), {sym(b)}, Attrs().set("channels", c));
    });
    return plain_of[v] = p;
  }
  // The blocked twin of logical 4-D value v (a to_nchwc node when it has none yet).
  ValueRef blocked(ValueRef v, int32_t at) {
    auto it = blocked_of.find(v);
    if (it != blocked_of.end()) return it->second;
    const ValueRef b = emit(at, [&] { return call_op1(op_def(OpId::to_nchwc), {sym(v)}); });
    return blocked_of[v] = b;
  }
  ValueRef pack(ValueRef w, const std::string& format, int32_t at) {
    auto key = std::make_pair(w, format);
    auto it = packed.find(key);
    if (it != packed.end()) return it->second;
    const ValueRef p = emit(at, [&] {
      return call_op1(op_def(OpId::nchwc_pack_weight), {sym(w)}, Attrs().set("format", format));
    });
    return packed[key] = p;
  }

  void replace_with(int32_t i, ValueRef twin) {
    blocked_of[{i, 0}] = mark_blocked(twin);
    replaced.insert(i);
  }

  // conv2d / conv2d_fused -> conv2d_nchwc / depthwise_conv2d_nchwc.
  bool convert_conv(int32_t i) {
    const Node nd = g.nodes[i];  // a copy: emitting grows g.nodes
    if (!nd.is(OpId::conv2d) && !nd.is(OpId::conv2d_fused)) return false;
    const ValueRef x = nd.inputs[0], w = nd.inputs[1];
    const TensorMeta xm = g.meta(x);  // copies: emitting grows g.nodes
    const Shape ws = g.meta(w).shape;
    if (!cpu_f32(xm) || xm.shape.size() != 4 || ws.size() != 4 || g.meta(w).dtype != xm.dtype ||
        checked_numel(xm.shape, "nchwc_layout") == 0)
      return false;
    const int64_t c = xm.shape[1], o = ws[0], groups = nd.attrs.i("groups");
    const bool fused = nd.is(OpId::conv2d_fused);
    const bool has_bias = fused ? nd.attrs.b("has_bias") : nd.inputs.size() > 2;
    const bool has_residual = fused && nd.attrs.b("has_residual");
    std::string format;
    if (groups == 1)
      format = !is_replaced(x) && c <= 4 ? "plain_input" : "dense";
    else if (groups == c && o == c && ws[1] == 1)
      format = "depthwise";
    else
      return false;

    Attrs attrs = nd.attrs;
    if (!fused) attrs.set("activation", std::string("none")).set("has_residual", false);
    attrs.set("has_bias", has_bias).set("format", format).set("out_channels", o);
    const ValueRef xin = format == "plain_input" ? x : blocked(x, i);
    const ValueRef wp = pack(w, format, i);
    std::vector<ValueRef> in = {xin, wp};
    if (has_bias) in.push_back(nd.inputs[2]);
    if (has_residual) in.push_back(blocked(nd.inputs[has_bias ? 3 : 2], i));
    const OpId op = format == "depthwise" ? OpId::depthwise_conv2d_nchwc : OpId::conv2d_nchwc;
    replace_with(i, emit(i, [&] {
                   std::vector<Tensor> t;
                   for (const ValueRef& r : in) t.push_back(sym(r));
                   return call_op1(op_def(op), t, attrs);
                 }));
    return true;
  }

  // add / add_relu(conv, r): r becomes the convolution's residual.
  bool fuse_residual(int32_t i) {
    const Node nd = g.nodes[i];
    if (!nd.is(OpId::add) && !nd.is(OpId::add_relu)) return false;
    const TensorMeta& out = nd.outputs[0];
    for (int k = 0; k < 2; ++k) {
      const ValueRef a = nd.inputs[k], r = nd.inputs[1 - k];
      if (a == r || !is_replaced(a) || uses[a.node][a.output] != 1 || g.meta(a) != out ||
          g.meta(r) != out)
        continue;
      const Node& conv = g.nodes[blocked_of.at(a).node];
      if (!conv.is(OpId::conv2d_nchwc) && !conv.is(OpId::depthwise_conv2d_nchwc)) continue;
      if (conv.attrs.b("has_residual") || conv.attrs.s("activation") != "none") continue;
      const int32_t old = blocked_of.at(a).node;
      const Node c = conv;
      Attrs attrs = c.attrs;
      attrs.set("has_residual", true);
      if (nd.is(OpId::add_relu)) attrs.set("activation", std::string("relu"));
      const ValueRef res = blocked(r, i);
      replace_with(i, emit(i, [&] {
                     std::vector<Tensor> t;
                     for (const ValueRef& v : c.inputs) t.push_back(sym(v));
                     t.push_back(sym(res));
                     return call_op1(*c.op, t, attrs);
                   }));
      g.nodes[old].dead = true;  // appended by this pass, read by nothing else
      return true;
    }
    return false;
  }

  bool convert_pool(int32_t i) {
    const Node nd = g.nodes[i];
    if (nd.kind != NodeKind::op || nd.dead || nd.inputs.empty() || !is_replaced(nd.inputs[0]))
      return false;
    Attrs attrs = nd.attrs;
    OpId op;
    if (nd.is(OpId::max_pool2d)) {
      if (uses[i][1] != 0) return false;  // the indices have a reader
      if (!attrs.has("dilation")) attrs.set("dilation", std::vector<int64_t>{1, 1});
      op = OpId::max_pool2d_nchwc;
    } else if (nd.is(OpId::avg_pool2d)) {
      op = OpId::avg_pool2d_nchwc;
    } else if (nd.is(OpId::adaptive_avg_pool2d) &&
               nd.attrs.ints("output_size") == std::vector<int64_t>{1, 1}) {
      op = OpId::global_avg_pool_nchwc;
      attrs = Attrs();
    } else {
      return false;
    }
    const ValueRef xb = blocked_of.at(nd.inputs[0]);
    replace_with(i, emit(i, [&] { return call_op1(op_def(op), {sym(xb)}, attrs); }));
    return true;
  }

  // How operand v of a blocked binary op whose logical output is `out` (N, C, H, W) takes the
  // blocked layout: as its blocked twin, as it is (one element: broadcasts against (N, Cb, H,
  // W, 16)), reshaped to (n, 1, h, w, 1) (one channel), or through to_nchwc (C channels).
  // Nothing is emitted here, so both operands are checked before either is converted.
  enum class Operand { unfit, blocked, scalar, one_channel, channels };
  static Shape right_aligned4(const Shape& s) {
    Shape s4 = s;
    s4.insert(s4.begin(), 4 - s4.size(), 1);  // as broadcasting aligns shapes
    return s4;
  }
  Operand operand_kind(ValueRef v, const Shape& out) const {
    const TensorMeta& m = g.meta(v);
    if (m.dtype != DType::float32 || m.device.type != DeviceType::cpu) return Operand::unfit;
    if (has_blocked(v))
      return m.shape.size() == 4 && m.shape[1] == out[1] ? Operand::blocked : Operand::unfit;
    if (m.shape.size() > 4) return Operand::unfit;
    if (checked_numel(m.shape, "nchwc_layout") == 1) return Operand::scalar;
    const Shape s4 = right_aligned4(m.shape);
    if (s4[1] == 1) return Operand::one_channel;
    return s4[1] == out[1] ? Operand::channels : Operand::unfit;
  }
  ValueRef emit_operand(ValueRef v, Operand kind, int32_t at) {
    const Shape shape = g.meta(v).shape;  // a copy: emitting grows g.nodes
    const Shape s4 = right_aligned4(shape);
    switch (kind) {
      case Operand::blocked:
        return blocked_of.at(v);
      case Operand::one_channel: {
        const Shape s5 = {s4[0], 1, s4[2], s4[3], 1};
        return emit(at, [&] { return reshape(sym(v), s5); });
      }
      case Operand::channels:
        if (s4 == shape) return blocked(v, at);
        {
          const ValueRef r4 = emit(at, [&] { return reshape(sym(v), s4); });
          return emit(at, [&] { return call_op1(op_def(OpId::to_nchwc), {sym(r4)}); });
        }
      case Operand::scalar:
      case Operand::unfit:
        break;
    }
    return v;
  }

  bool convert_elementwise(int32_t i) {
    const Node nd = g.nodes[i];
    if (nd.kind != NodeKind::op || nd.dead || nd.outputs.size() != 1) return false;
    const Shape& out = nd.outputs[0].shape;
    if (out.size() != 4) return false;
    if (is_blockable_unary(nd.op->id)) {
      if (nd.inputs.size() != 1 || !is_replaced(nd.inputs[0]) || g.meta(nd.inputs[0]).shape != out)
        return false;
      const ValueRef xb = blocked_of.at(nd.inputs[0]);
      replace_with(i, emit(i, [&] { return call_op1(*nd.op, {sym(xb)}, nd.attrs); }));
      return true;
    }
    if (!is_blockable_binary(nd.op->id) || nd.inputs.size() != 2) return false;
    if (!is_replaced(nd.inputs[0]) && !is_replaced(nd.inputs[1])) return false;
    const Operand ka = operand_kind(nd.inputs[0], out), kb = operand_kind(nd.inputs[1], out);
    if (ka == Operand::unfit || kb == Operand::unfit) return false;
    if (fuse_residual(i)) return true;
    const ValueRef a = emit_operand(nd.inputs[0], ka, i), b = emit_operand(nd.inputs[1], kb, i);
    const ValueRef y = emit(i, [&] { return call_op1(*nd.op, {sym(a), sym(b)}, nd.attrs); });
    const Shape want = {out[0], nchwc_blocks(out[1]), out[2], out[3], kernels::kNchwcBlock};
    DUET_ASSERT(g.meta(y).shape == want, "nchwc_layout: blocked ", nd.op->name, " of node %", i,
                " gives ", shape_str(g.meta(y).shape), ", expected ", shape_str(want));
    replace_with(i, y);
    return true;
  }

  void run() {
    for (int32_t i = 0; i < n; ++i) {
      if (g.nodes[i].dead || g.nodes[i].kind != NodeKind::op) continue;
      if (convert_conv(i) || convert_pool(i) || convert_elementwise(i)) continue;
      // Stays plain: reads the plain form of blocked inputs.
      for (size_t k = 0; k < g.nodes[i].inputs.size(); ++k) {
        const ValueRef p = plain(g.nodes[i].inputs[k], i);
        g.nodes[i].inputs[k] = p;
      }
    }
    if (replaced.empty() && g.nodes.size() == static_cast<size_t>(n)) return;
    const int32_t last = n - 1;
    for (ValueRef& r : ctx.outputs) r = plain(r, last);
    for (ValueRef& r : g.gradient_values) r = plain(r, last);
    for (int32_t i : replaced) g.nodes[i].dead = true;
    reorder_topologically(ctx, static_cast<size_t>(n));
    std::vector<ValueRef*> keep;
    for (ValueRef& r : ctx.outputs) keep.push_back(&r);
    g.compact(keep);
  }
};

}  // namespace

void force_nchwc_layout(bool on) {
  g_forced = on;
}

void nchwc_layout(PassContext& ctx) {
  GraphData& g = ctx.graph;
  if (g.training || ctx.options.training) return;
  if (!g_forced && simd::kernel_isa() != simd::Isa::avx512) return;
  for (const Node& nd : g.nodes)
    if (!nd.dead && nd.mutates()) return;  // keep every read at its place
  Layouter{ctx}.run();
}

}  // namespace duet::detail

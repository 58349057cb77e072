// Constant folding: an op node whose inputs are all constants runs once, at compile time, and
// becomes capture nodes of its results. One forward sweep folds chains transitively.
//
// A capture is a constant when nothing outside the graph can change it: only the graph holds
// its tensor and storage (use counts of 1: e.g. a Tensor::ones made while tracing, the
// autodiff seed), it does not require grad, and no node of the graph writes it. Parameters,
// BN buffers, optimizer state and tensors the caller still holds are not constants.
//
// Not folded: random ops, collectives (a compile never communicates), ops that write inputs in
// place or have no outputs, ops whose outputs some node writes in place (each run must start
// from the computed value), and ops whose results would be much larger than their inputs (an
// expand of a scalar to an activation's shape would turn a reusable arena buffer into a
// permanent capture). A kernel that throws leaves the node alone, so the error surfaces at run
// time with the node's location.
#include "core/copy.h"
#include "core/tensor_impl.h"
#include "duet/autograd.h"
#include "graph/passes.h"

namespace duet::detail {
namespace {

// Outputs may grow past their inputs up to this many elements.
constexpr int64_t kMaxGrowth = 1 << 16;

bool is_constant_capture(const Node& nd, bool written) {
  if (nd.kind != NodeKind::capture || written || !nd.captured.defined()) return false;
  const auto& impl = nd.captured.impl_ptr();
  return impl.use_count() == 1 && !impl->requires_grad && !impl->symbolic && impl->storage &&
         impl->storage.use_count() == 1;
}

// Recording off on this thread while kernels run (passes may run inside a graph build).
struct RecordingOff {
  bool was = recording_active();
  RecordingOff() { set_recording_active(false); }
  ~RecordingOff() { set_recording_active(was); }
};

}  // namespace

void constant_folding(PassContext& ctx) {
  GraphData& g = ctx.graph;
  const size_t n = g.nodes.size();
  const MutationInfo mi = analyze_mutations(g);
  std::vector<std::vector<Tensor>> value(n);  // concrete value of each constant node
  for (size_t i = 0; i < n; ++i)
    if (!g.nodes[i].dead && g.nodes[i].kind == NodeKind::capture &&
        is_constant_capture(g.nodes[i], mi.written[i][0]))
      value[i] = {g.nodes[i].captured};

  struct Extra {
    ValueRef from;
    Tensor value;
  };
  std::vector<Extra> extras;  // outputs k > 0 of folded multi-output nodes
  RecordingOff recording_off;
  NoGradGuard no_grad;
  for (size_t i = 0; i < n; ++i) {
    Node& nd = g.nodes[i];
    if (nd.dead || nd.kind != NodeKind::op || nd.op->random || nd.mutates() || nd.outputs.empty() ||
        nd.op->has(OpTrait::collective))
      continue;
    bool written = false;  // a later in-place write must keep hitting a fresh value each run
    for (size_t k = 0; k < nd.outputs.size(); ++k) written = written || mi.written[i][k];
    if (written) continue;
    bool all_const = true;
    int64_t in_numel = 0, out_numel = 0;
    std::vector<Tensor> in;
    for (const ValueRef& r : nd.inputs) {
      if (value[r.node].empty()) {
        all_const = false;
        break;
      }
      in.push_back(value[r.node][r.output]);
      in_numel += in.back().numel();
    }
    if (!all_const) continue;
    for (const TensorMeta& m : nd.outputs) out_numel += numel(m.shape);
    if (out_numel > std::max(in_numel, kMaxGrowth)) continue;
    std::vector<Tensor> out;
    try {
      out = call_op(*nd.op, in, nd.attrs);
    } catch (const Error&) {
      continue;
    }
    for (Tensor& t : out) {
      // Captures must be contiguous and own their storage (a view would alias its input).
      bool aliases = false;
      for (const Tensor& x : in) aliases = aliases || t.impl()->storage == x.impl()->storage;
      if (aliases || !t.is_contiguous()) t = contiguous_copy(t);
    }
    value[i] = out;
    for (size_t k = 1; k < out.size(); ++k)
      extras.push_back({{static_cast<int32_t>(i), static_cast<int32_t>(k)}, out[k]});
    nd.kind = NodeKind::capture;
    nd.op = nullptr;
    nd.attrs = Attrs();
    nd.inputs.clear();
    nd.captured = out[0];
    nd.outputs = {nd.outputs[0]};
    g.capture_of[out[0].impl()] = static_cast<int32_t>(i);
  }
  if (extras.empty()) return;
  for (Extra& e : extras) {
    Node c;
    c.kind = NodeKind::capture;
    c.captured = e.value;
    c.outputs = {{e.value.shape(), e.value.dtype(), e.value.device()}};
    c.loc = g.nodes[e.from.node].loc;
    const int32_t id = g.add_node(std::move(c));
    g.capture_of[e.value.impl()] = id;
    replace_value(ctx, e.from, {id, 0});
  }
  reorder_topologically(ctx, n);
}

}  // namespace duet::detail

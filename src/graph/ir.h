// The graph IR: a list of nodes in creation (= topological) order.
//
//   node kinds: input   (fed at run time by name)
//               capture (a concrete tensor referenced by the graph: parameter, buffer,
//                        optimizer state or constant; never copied)
//               op      (an OpDef call with attrs, inputs as ValueRefs, inferred outputs)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor_impl.h"
#include "duet/graph.h"
#include "ops/op_def.h"

namespace duet::detail {

struct ValueRef {
  int32_t node = -1;
  int32_t output = 0;
  bool valid() const { return node >= 0; }
  bool operator==(const ValueRef&) const = default;
  bool operator<(const ValueRef& o) const {
    return node != o.node ? node < o.node : output < o.output;
  }
};

enum class NodeKind : uint8_t { input, capture, op };

struct Node {
  NodeKind kind = NodeKind::op;
  const OpDef* op = nullptr;
  Attrs attrs;
  std::vector<ValueRef> inputs;
  std::vector<TensorMeta> outputs;
  std::string name;   // input: the feed name
  Tensor captured;    // capture: the concrete tensor
  SourceLoc loc;      // model code that created the node
  bool dead = false;  // removed by a pass (compacted away by compact())
  // Annotations of the last passes (passes.h), honoured by the planner and the executor:
  // inplace (pass "inplace"): output 0 is written over the buffer of input `inplace_of`
  // (always op->inplace_input), which dies here; -1: output 0 gets a buffer of its own.
  int32_t inplace_of = -1;
  // hoist (pass "hoist", eval graphs): computed from captures only, once, outside the arena,
  // and again when a capture it reads changes (ExecutableImpl::prologue).
  bool hoisted = false;
  // Appended by gradients() (graph autodiff): the autocast pass never applies a policy to
  // these (gradient rules run in the dtypes the forward chose).
  bool from_autodiff = false;

  bool mutates() const { return kind == NodeKind::op && op->mutates_inputs != 0; }
  // A live op node of op `id` / with trait `t`.
  bool is(OpId id) const { return !dead && kind == NodeKind::op && op->id == id; }
  bool has(OpTrait t) const { return !dead && kind == NodeKind::op && op->has(t); }
  std::string label() const;  // "conv2d", "input x", "capture (64, 1, 3, 3)"
};

struct GraphData : std::enable_shared_from_this<GraphData> {
  uint64_t id = 0;
  bool training = false;
  bool building = false;
  bool compiled = false;  // passes renumber nodes: a compiled graph's symbolic values are stale
  std::vector<Node> nodes;
  std::unordered_map<const TensorImpl*, int32_t> capture_of;  // dedupe captures

  // Values produced by gradients() for captured parameters (memory report category).
  std::vector<ValueRef> gradient_values;
  // Concrete tensors whose value was read on the host while recording (baked into the graph
  // as constants) and their storage version then: a later write makes the graph stale.
  struct HostRead {
    std::shared_ptr<Storage> storage;
    uint64_t version = 0;
    Shape shape;
    SourceLoc loc;
  };
  std::vector<HostRead> host_reads;
  // Why the graph no longer matches the values it baked in ("" when it does).
  std::string stale_reason() const;

  const TensorMeta& meta(ValueRef v) const { return nodes[v.node].outputs[v.output]; }
  // The ValueRef for a tensor used in this graph: its node if symbolic (and from this graph),
  // else a capture node (created on first use).
  ValueRef value_of(const Tensor& t, const char* op);
  int32_t add_node(Node node);
  Tensor symbolic(ValueRef v);
  // Drops dead nodes and renumbers; `keep` refs are remapped in place.
  void compact(std::vector<ValueRef*> keep);
  std::string dump() const;
  std::string to_dot() const;
};

// The payload of a symbolic tensor.
struct GraphValue final : SymbolicValue {
  std::shared_ptr<GraphData> graph;
  ValueRef ref;
  std::string describe() const override;
};

const GraphValue* graph_value(const Tensor& t);  // null for concrete tensors

// Thread-local stack of graphs being recorded.
void push_recording(const std::shared_ptr<GraphData>& g);
void pop_recording(const GraphData* g);
std::shared_ptr<GraphData> active_graph();

// Suspends every graph recording on this thread for its lifetime: ops called meanwhile run
// eagerly on concrete tensors (the ONNX importer folds constant subgraphs this way).
class PauseRecording {
 public:
  PauseRecording();
  ~PauseRecording();
  PauseRecording(const PauseRecording&) = delete;
  PauseRecording& operator=(const PauseRecording&) = delete;

 private:
  std::vector<std::shared_ptr<GraphData>> saved_;
};

// Installs the record hook into call_op (idempotent).
void install_graph_hook();

}  // namespace duet::detail

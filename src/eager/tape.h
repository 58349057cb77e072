// The eager tape: one TapeNode per op call whose inputs require grad.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "core/tensor_impl.h"
#include "ops/op_def.h"

namespace duet::detail {

// Where the gradient of one op input goes: another node's output, or a leaf's .grad.
struct Edge {
  std::shared_ptr<TapeNode> node;
  int output_nr = 0;
  std::shared_ptr<TensorImpl> leaf;
  bool active() const { return node || leaf; }
};

struct SavedTensor {
  Tensor tensor;  // detached alias: shares storage, holds no grad_fn (no cycles)
  uint64_t version = 0;
};

struct TapeNode {
  const OpDef* op = nullptr;
  Attrs attrs;
  std::vector<SavedTensor> saved_inputs;   // size num inputs, undefined where not needed
  std::vector<SavedTensor> saved_outputs;  // size num outputs
  std::vector<TensorMeta> input_metas;
  std::vector<Edge> next;  // one per input
  int num_outputs = 1;
  uint64_t seq = 0;       // creation order: a valid topological order
  bool released = false;  // saved tensors freed by a backward
};

// The grad-ready hooks of one leaf (TensorImpl::grad_ready_hooks), guarded by the hook
// registry's mutex (tape.cpp).
struct GradReadyHooks {
  std::vector<std::pair<int64_t, std::function<void(const Tensor&)>>> hooks;  // (id, fn)
};

// Called by call_op after an eager kernel ran: records a node when grad mode is on and any
// differentiable input requires grad, and marks the outputs.
void record_tape(const OpDef& op, const Attrs& attrs, const std::vector<Tensor>& inputs,
                 std::vector<Tensor>& outputs);

}  // namespace duet::detail

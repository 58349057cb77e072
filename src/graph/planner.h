// The memory planner: liveness over the node order, in-place reuse where the in-place pass
// marked it (Node::inplace_of), staging copies and workspace from each node's prepared kernel
// call (ops/prepare.h), and best-fit offsets (biggest buffers first) in one arena.
//
// Parameters, optimizer state and other captures live outside the arena. Requested outputs
// and graph inputs get buffers that are never shared. A gradient's buffer is never shared
// while the gradient is live; once its consumer (the optimizer update) has run, the bytes
// are free for later values, unless the gradient is a requested output.
#pragma once

#include <cstdint>
#include <vector>

#include "graph/ir.h"
#include "ops/prepare.h"

namespace duet::detail {

enum class BufferKind : uint8_t { activation, input, output, gradient, workspace };

struct Buffer {
  int64_t size = 0;   // bytes, rounded up to the alignment
  int32_t first = 0;  // node index that writes it first
  int32_t last = 0;   // node index that reads it last (INT32_MAX: alive to the end)
  BufferKind kind = BufferKind::activation;
  int64_t offset = -1;
};

struct MemoryPlan {
  std::vector<Buffer> buffers;
  std::vector<std::vector<int32_t>> value_buffer;  // [node][output]: buffer, or -1 (capture)
  std::vector<int32_t> workspace_buffer;           // [node]: buffer, or -1
  std::vector<size_t> workspace_size;              // [node]: bytes the kernel asked for
  std::vector<bool> inplace;                       // [node]: output 0 reuses an input's buffer
  std::vector<bool> alias;                         // [node]: a view op; output 0 aliases input 0
  // [node]: (input index, buffer) pairs: inputs that are non-contiguous views and must be
  // copied into a contiguous staging buffer before the kernel runs (as eager mode does).
  std::vector<std::vector<std::pair<int32_t, int32_t>>> staging;
  // [node]: the op node's kernel call as ops/prepare.h prepares it (kernel, inputs to copy,
  // workspace bytes), for arena and hoisted nodes alike; empty for other nodes and aliases.
  std::vector<PreparedCall> calls;
  int64_t arena_bytes = 0;
};

inline constexpr int64_t kArenaAlignment = 64;

// Assigns offsets so that no two buffers with overlapping [first, last] overlap in memory;
// returns the arena size. Best fit: each buffer (largest first) takes the smallest gap
// between already-placed, simultaneously-live buffers that holds it.
int64_t assign_offsets(std::vector<Buffer>& buffers);

// The planner's state while it walks the nodes in order; at op node i every earlier value has
// its buffer and its layout in that buffer.
struct PlanState {
  const GraphData& graph;
  const MemoryPlan& plan;  // buffers (with `last` as far as known) and value_buffer so far
  // [node][output]: shape, strides and storage offset of the value in its buffer (views are
  // aliases, not copies); captures are the captured tensors themselves.
  const std::vector<std::vector<Tensor>>& layout;
  const std::vector<std::vector<BufferKind>>& kind;  // [node][output]: the value's role
};
// Which input's buffer output 0 of op node `node` is written over; -1: a buffer of its own.
using InplaceChoice = int32_t (*)(const PlanState& state, int32_t node);

// Every value's buffer, walking the nodes in order, without offsets (arena_bytes stays 0).
// Views alias their input's buffer; hoisted nodes (Node::hoisted) live outside the arena;
// `choose` decides which outputs are written over a dying input (the in-place pass's rule, or
// the annotations it left). with_calls: also prepare every op node's kernel call and plan its
// staging copies and workspace (the planner); false: values only (the in-place pass).
// keep_all: every buffer lives to the end (debugging; nothing is reused).
MemoryPlan assign_buffers(const GraphData& g, const std::vector<ValueRef>& outputs, bool keep_all,
                          InplaceChoice choose, bool with_calls);

// The plan the executor runs: assign_buffers honouring the passes' annotations
// (Node::inplace_of, Node::hoisted), then offsets.
MemoryPlan plan_memory(const GraphData& g, const std::vector<ValueRef>& outputs,
                       bool keep_all = false);

}  // namespace duet::detail

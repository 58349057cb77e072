// The memory planner: liveness over the node order, in-place reuse where an elementwise op's
// input dies at that op, and best-fit offsets (biggest buffers first) in one arena.
//
// Parameters, optimizer state and other captures live outside the arena. Requested outputs
// and graph inputs get buffers that are never shared. A gradient's buffer is never shared
// while the gradient is live; once its consumer (the optimizer update) has run, the bytes
// are free for later values, unless the gradient is a requested output.
#pragma once

#include <cstdint>
#include <vector>

#include "graph/ir.h"

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
  int64_t arena_bytes = 0;
};

inline constexpr int64_t kArenaAlignment = 64;

// Assigns offsets so that no two buffers with overlapping [first, last] overlap in memory;
// returns the arena size. Best fit: each buffer (largest first) takes the smallest gap
// between already-placed, simultaneously-live buffers that holds it.
int64_t assign_offsets(std::vector<Buffer>& buffers);

// keep_all: every buffer lives to the end (debugging; nothing is reused).
// derived[i]: node i computes a value from captures only (hoisted, see derived_nodes); its
// outputs live outside the arena, like the captures themselves.
MemoryPlan plan_memory(const GraphData& g, const std::vector<ValueRef>& outputs, bool allow_inplace,
                       bool keep_all = false, const std::vector<bool>& derived = {});

// The op nodes of an eval graph whose inputs are all captures or other such nodes (folded
// batch-norm weights, say): deterministic, non-mutating, reading no graph input. The
// executor computes them once and again only when one of their captures changes.
std::vector<bool> derived_nodes(const GraphData& g);

}  // namespace duet::detail

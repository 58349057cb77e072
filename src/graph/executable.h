// A compiled graph: the node list after the passes, the memory plan, the arena, and one
// prebuilt step per node (input/output tensors already pointing into the arena), so that a
// steady-state run allocates nothing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "graph/ir.h"
#include "graph/planner.h"

namespace duet::detail {

struct ExecStep {
  const OpDef* op = nullptr;
  Attrs attrs;                  // a copy: random ops get a fresh seed each run
  std::vector<Tensor> inputs;   // resolved values (arena views or captures)
  std::vector<Tensor> outputs;  // arena views
  void* workspace = nullptr;
  size_t workspace_size = 0;
  KernelFn kernel = nullptr;      // the device kernel, resolved at build time
  bool materialize_view = false;  // reshape of a non-contiguous value: copy into its buffer
  std::vector<std::pair<Tensor, Tensor>> staging;  // (strided value, contiguous copy) first
  int32_t node = -1;
};

struct FeedSlot {
  std::string name;
  TensorMeta meta;
  SourceLoc loc;
  Tensor buffer;  // arena view the feed is copied into
};

class ExecutableImpl {
 public:
  std::shared_ptr<GraphData> graph;
  std::vector<ValueRef> outputs;
  MemoryPlan plan;
  std::shared_ptr<Storage> arena;
  std::vector<std::vector<Tensor>> values;  // [node][output]
  std::vector<ExecStep> steps;
  // Derived constants (derived_nodes): computed by `prologue` on the first run and again
  // whenever a capture they read has a new storage version.
  std::vector<bool> derived;
  std::vector<ExecStep> prologue;
  std::vector<std::pair<Tensor, uint64_t>> prologue_sources;  // (capture, version last used)
  std::vector<std::vector<char>> prologue_scratch;            // workspaces of prologue steps
  bool prologue_done = false;
  std::vector<FeedSlot> feeds;
  std::vector<Tensor> output_tensors;
  MemoryReport report;
  std::vector<PassStat> pass_stats;
  double compile_ms = 0;

  void build();  // arena + values + steps from graph and plan
  void run_step(ExecStep& st);
  std::vector<Tensor> run(const std::map<std::string, Tensor>& feeds);
  std::vector<double>* step_seconds = nullptr;  // when set, run() adds each step's time
};

}  // namespace duet::detail

// A compiled graph: the node list after the passes, the memory plan, the arena, and one
// prebuilt step per node (input/output tensors already pointing into the arena), so that a
// steady-state run allocates nothing. On a CUDA device the steps are captured once as a CUDA
// Graph and replayed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/cuda_graph.h"
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
  KernelFn kernel = nullptr;      // the device kernel (MemoryPlan::calls, ops/prepare.h)
  // A low-precision call computed in float32 (ops/prepare.h: round_trip): the prepared call
  // that run_prepared converts around `kernel`; null for every other step (one branch).
  std::shared_ptr<const PreparedCall> round_trip;
  bool materialize_view = false;  // reshape of a non-contiguous value: copy into its buffer
  std::vector<std::pair<Tensor, Tensor>> staging;  // (strided value, contiguous copy) first
  int32_t node = -1;
  const uint64_t* device_seed = nullptr;  // random ops on a GPU: their slot in `seeds`
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
  // Hoisted nodes (Node::hoisted, pass "hoist"): computed by `prologue` on the first run and
  // again whenever a capture they read has a new storage version (then only the chains that
  // read it). One step per hoisted node that runs a kernel; its inputs, outputs, copies and
  // scratch are bound only while it runs (run_prologue).
  std::vector<ExecStep> prologue;
  struct PrologueSource {
    int32_t node = -1;           // a capture node that hoisted nodes read
    uint64_t version = 0;        // its storage version when the prologue last ran
    const void* data = nullptr;  // and its address (Module::to swaps storage in place)
  };
  std::vector<PrologueSource> prologue_sources;
  bool prologue_done = false;
  std::vector<int32_t> hoisted_order;  // the hoisted nodes (steps and views), in node order
  std::vector<int32_t> prologue_step;  // [node]: its index in `prologue`; -1: a view or no step
  // [node]: a hoisted value that outlives the prologue (read by a step, a requested output, or
  // viewed by such a value): allocated once, by the first prologue. Other hoisted values (a
  // folded weight that only its pack node reads) are freed after their last hoisted reader and
  // recomputed from the captures when needed again.
  std::vector<char> kept;
  // [node]: the transient hoisted values, and with release_weights the captures read by
  // hoisted nodes only, whose last hoisted use (directly or through views) is this node;
  // highest node first, so that views go before what they view.
  std::vector<std::vector<int32_t>> drop_at;
  // CompileOptions::release_weights: [node] the capture was released (Node::captured reset)
  // because nothing outside the executable held it; it can no longer be read.
  bool release_weights = false;
  std::vector<char> released;
  int64_t derived_bytes = 0;  // bytes of the kept hoisted values (MemoryReport::derived)
  // Inputs of `steps` that are hoisted values: (step, input, its staging copy or -1, value),
  // bound once the first prologue has allocated them.
  struct HoistedUse {
    int32_t step = 0, input = 0, staging = -1;
    ValueRef value;
  };
  std::vector<HoistedUse> hoisted_uses;
  std::vector<FeedSlot> feeds;
  std::vector<Tensor> output_tensors;
  MemoryReport report;
  std::vector<PassStat> pass_stats;
  double compile_ms = 0;

  Device device = cpu;  // of every value, the arena and the kernels
  // Random steps draw one seed each per run, in step order, from the default generator. On a
  // GPU the seeds go to `seeds` (int64 [n], on the device) and the kernels read them there, so
  // a replayed CUDA Graph draws fresh numbers.
  std::vector<ExecStep*> random_steps;
  Tensor seeds;                      // int64 [random steps], on the device
  std::vector<int64_t> seed_values;  // this run's seeds
  // Tensors the steps write in place (parameters, optimizer state, running stats): their
  // storage versions go up once per run, also when a CUDA Graph replay ran the writes.
  std::vector<Tensor> mutated;

  // CUDA Graph (CompileOptions::cuda_graph on a CUDA device): run 1 launches kernel by kernel,
  // run 2 captures and replays, later runs replay. Captures are redone when a captured
  // tensor's data moved (its address is baked into the graph).
  bool use_cuda_graph = false;
  std::unique_ptr<CudaGraph> cuda_graph;
  int runs = 0, captures = 0;
  std::string capture_reason;
  std::vector<int32_t> capture_nodes;           // the graph's capture nodes, in order
  std::vector<const void*> captured_addresses;  // their data_ptr() when the graph was captured

  void build();  // arena + values + steps from graph and plan
  // A contiguous tensor over arena bytes [offset, offset + bytes) (the arena owns them).
  Tensor arena_tensor(int64_t offset, int64_t bytes, const Shape& shape, DType dtype);
  // The arena: allocated by build(), or with release_weights by the first run after its
  // prologue; the views and workspace pointers made before get their addresses then.
  void allocate_arena();
  std::vector<std::pair<std::shared_ptr<Storage>, int64_t>> unbound_views;  // (storage, offset)
  std::vector<std::pair<size_t, int64_t>> unbound_workspaces;               // (step, offset)
  void run_step(ExecStep& st);
  std::vector<Tensor> run(const std::map<std::string, Tensor>& feeds);
  std::vector<double>* step_seconds = nullptr;  // when set, run() adds each step's time

 private:
  void check_feeds(const std::map<std::string, Tensor>& fed) const;  // names, shapes, devices
  void bind_feeds(const std::map<std::string, Tensor>& fed);         // checks, then copies in
  void check_captures_in_place();
  // kept, drop_at, hoisted_order, prologue_step and released from the graph and the plan.
  void plan_prologue();
  // The hoisted values: all on the first run, then those that read a capture written since
  // (and the freed values they need). Throws when one needs a released capture.
  void run_prologue(bool profiling);
  // A transient value, or (release_weights) a capture to release if nothing else holds it.
  void drop_after_use(int32_t node);
  void release(int32_t node);  // a capture: the executable's handles on it go
  struct Overwrite {
    int32_t input = -1;      // output 0 is computed over this input's memory; -1: its own
    bool by_blocks = false;  // nchwc_pack_weight, 16 output channels at a time (pack_by_blocks)
  };
  Overwrite overwrite_plan(int32_t node) const;
  void pack_by_blocks(ExecStep& st);
  void bind_hoisted_values();
  const void* capture_address(int32_t node) const;  // null once released
  // Whether a prologue source was written or moved since the prologue last ran (a released
  // capture never is: nothing else holds it).
  bool source_changed(const PrologueSource& src) const;
  void draw_seeds();
  // Every step, kernel by kernel; profile_nodes: each as a profiler event (never while a
  // CUDA Graph is being captured: nothing runs then, and no CUDA event may be recorded).
  void run_steps(bool profile_nodes = false);
  void run_step_profiled(ExecStep& st);
  std::string recapture_reason() const;  // empty when the captured graph is still valid
  void capture_and_launch(const std::string& why);
};

}  // namespace duet::detail

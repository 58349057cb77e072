// Graph mode: build (or trace) a model into a graph, compile it, run it.
//
//   // eval: explicit build-then-run
//   duet::Graph g;                                   // records every op on this thread
//   auto x = g.input("x", {8, 1, 28, 28});           // symbolic (8, 1, 28, 28)
//   auto y = (*net)(x);                              // the same model code as eager
//   auto exe = duet::compile(g, {y});                // passes, memory plan
//   auto out = exe.run({{"x", batch}});              // out[0]: (8, 10)
//
//   // training: autodiff + optimizer update appended, BN running stats as update nodes
//   duet::Graph tg({.training = true});
//   auto xt = tg.input("x", {64, 1, 28, 28});
//   auto yt = tg.input("y", {64}, duet::int64);
//   auto loss = duet::cross_entropy((*net)(xt), yt);
//   auto step = duet::compile(tg, {loss}, {.training = true, .optimizer = &adam});
//   step.run({{"x", images}, {"y", labels}});        // updates net's parameters in place
//
// While a Graph is being built, every op called on this thread records a node (concrete
// tensors such as parameters are captured by reference, never copied); modules read
// train/eval from the graph, not from their own flag.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "duet/source_location.h"
#include "duet/tensor.h"

namespace duet {

namespace optim {
class Optimizer;
}
namespace amp {
class GradScaler;
}
namespace detail {
struct GraphData;
class ExecutableImpl;
}  // namespace detail

struct GraphOptions {
  bool training = false;  // modules built into this graph run in train mode
};

class Graph {
 public:
  explicit Graph(GraphOptions options = {});
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // A value fed at run time under `name`.
  Tensor input(const std::string& name, const Shape& shape, DType dtype = float32,
               Device device = cpu, std::source_location loc = std::source_location::current());
  // Stops recording ops on this thread (compile() does it too).
  void end_build();
  bool building() const;
  bool training() const;
  size_t num_nodes() const;
  std::string dump() const;    // text: one line per node
  std::string to_dot() const;  // Graphviz
  const std::shared_ptr<detail::GraphData>& data() const { return data_; }

 private:
  std::shared_ptr<detail::GraphData> data_;
};

// Symbolic gradients of a one-element `loss` with respect to `wrt` (symbolic values or
// captured tensors such as parameters), emitted by graph autodiff from the same gradient
// rules the eager tape uses. Undefined where `loss` does not depend on wrt[i].
std::vector<Tensor> gradients(const Tensor& loss, const std::vector<Tensor>& wrt);

struct CompileOptions {
  bool training = false;                  // must match the graph's GraphOptions::training
  optim::Optimizer* optimizer = nullptr;  // training: gradients of outputs[0] + its update
  bool bit_exact = false;                 // no pass that changes arithmetic order
  std::set<std::string> disabled_passes{};  // e.g. {"cse", "fuse_epilogue"}
  bool dump_passes = false;               // print the graph before/after each pass (stderr)
  // Debugging: no passes, no buffer reuse; every node's value stays readable after run()
  // (Executable::value). Used by check_equivalence to find the first diverging node.
  bool keep_intermediates = false;
  // Graphs on a CUDA device: run 1 launches kernel by kernel (a warm-up that also lets cuDNN
  // pick its algorithms), run 2 captures the whole step as a CUDA Graph, later runs replay it
  // (one launch, no host work per op). A captured tensor (parameter, optimizer state) whose
  // storage moved since the capture makes the next run capture again, and says why on stderr.
  // false: every run launches kernel by kernel. Ignored on the CPU.
  bool cuda_graph = true;
  // Inference-only executables (eval graphs; ignored in training graphs). While the first
  // run computes the values derived from captured weights (batch norm folded in, packed for
  // the blocked-layout kernels), each captured tensor that only those derivations read is
  // released right after its last one, if nothing outside the executable holds it any more
  // (drop the model after compile(), before the first run): inference then keeps one copy of
  // the weights, and the transient peak stays near one copy (docs/graph_mode.md, "Inference
  // memory"). A capture a step reads (a linear layer's weight) is never released. A released
  // tensor cannot change; if another capture of the same derivation is written later (a
  // running statistic you kept), the next run throws a duet::Error naming the released tensor.
  // MemoryReport::released says how many bytes went.
  bool release_weights = false;
  // Mixed precision (duet/amp.h, docs/mixed_precision.md): run the graph as eager code inside
  // duet::autocast(dtype) would (bfloat16 or float16): the "autocast" pass inserts the casts
  // each op's AutocastPolicy asks for, then removes cast pairs that cancel and fuses casts into
  // neighbouring kernels where the result is the same. Parameters stay float32.
  std::optional<DType> autocast{};
  // Training with loss scaling (float16): outputs[0] is multiplied by the scaler's scale before
  // autodiff, the gradients are unscaled and checked for inf/NaN, the optimizer update is
  // skipped on the device when one is found, and the scale is updated, all inside the step
  // (no host synchronisation).
  amp::GradScaler* grad_scaler = nullptr;
};

// Bytes planned before anything runs.
struct MemoryReport {
  int64_t parameters = 0;       // captured tensors that require grad
  int64_t gradients = 0;        // most parameter-gradient bytes live at once (arena)
  int64_t optimizer_state = 0;  // captured tensors the optimizer owns
  int64_t buffers = 0;          // other captured tensors (BN running stats, constants)
  // Eval graphs: values computed from captures only (e.g. conv weights with a batch norm
  // folded in), computed on the first run and again only after a capture they read changed.
  int64_t derived = 0;
  int64_t activations = 0;  // the rest of the arena's peak
  int64_t workspace = 0;    // most kernel scratch live at once (arena)
  int64_t arena = 0;        // the arena's size: gradients + activations + workspace peak
  // CUDA Graph: scratch that kernels outside the plan (reductions, batch-norm partial sums)
  // took while the step was captured; it stays with the captured graph. Known after the
  // capture (run 2), 0 before and on the CPU.
  int64_t capture_scratch = 0;
  // CompileOptions::release_weights: captured tensors (counted above as parameters or
  // buffers) that the first run released; 0 before it and without the option.
  int64_t released = 0;
  int64_t total() const {
    return parameters + optimizer_state + buffers + derived + arena + capture_scratch - released;
  }
  std::string str() const;
};

struct PassStat {
  std::string name;
  size_t nodes_before = 0, nodes_after = 0;
  double ms = 0;
};

class Executable {
 public:
  Executable();
  ~Executable();
  Executable(Executable&&) noexcept;
  Executable& operator=(Executable&&) noexcept;

  // Feeds every graph input by name (shape and dtype must match). Returns the requested
  // outputs as views into the arena: valid until the next run; clone() to keep them.
  // Throws duet::Error when the executable is stale (below).
  std::vector<Tensor> run(const std::map<std::string, Tensor>& feeds);
  // Why this executable no longer computes what the model code would ("" when it does): a
  // tensor whose value was read on the host while the graph was built (item(),
  // to_vector(): baked in as a constant) has been written since (fill_, copy_, a step).
  // Build and compile the graph again; jit does so by itself.
  std::string stale_reason() const;
  MemoryReport memory_report() const;
  std::string dump() const;
  std::string to_dot() const;
  const std::vector<PassStat>& pass_stats() const;
  double compile_ms() const;
  size_t num_nodes() const;
  // Runs `runs` times with a timer around every node; returns a table of time per op kind
  // (total, share, count), slowest first.
  std::string profile(const std::map<std::string, Tensor>& feeds, int runs = 10);
  // With keep_intermediates: the value of node `node`'s output `output` after the last run.
  Tensor value(int node, int output = 0) const;
  bool defined() const { return impl_ != nullptr; }
  Device device() const;  // where the graph's values and its arena live
  // CUDA Graph captures so far (0 on the CPU, with cuda_graph off, or before run 2), and why
  // the latest one happened ("first capture", "captured tensor %3 (shape (64, 1, 3, 3))
  // moved to a new storage", ...).
  int num_captures() const;
  const std::string& last_capture_reason() const;
  detail::ExecutableImpl* impl() const { return impl_.get(); }

 private:
  friend Executable compile(Graph& graph, const std::vector<Tensor>& outputs,
                            const CompileOptions& options);
  std::unique_ptr<detail::ExecutableImpl> impl_;
};

Executable compile(Graph& graph, const std::vector<Tensor>& outputs,
                   const CompileOptions& options = {});

// Multiply-accumulate count of one run of the graph's recorded nodes: conv2d (grouped
// included), linear and matmul, with or without fused epilogues; elementwise ops, pooling
// and normalisation are not counted. The convention of torchvision's model tables
// (resnet50 at 1x3x224x224: 4.09 G), so FLOPs are about twice this.
int64_t multiply_adds(const Graph& graph);

// True while a graph records ops on this thread; modules use it to pick train/eval.
bool is_tracing();
// The training flag of the graph being recorded (only meaningful while is_tracing()).
bool tracing_training();

}  // namespace duet

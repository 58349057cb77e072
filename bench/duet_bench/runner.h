// One grid point of duet-bench: build a fresh model, then time a training step or an
// inference forward in eager or graph mode.
//
//   duet::bench::PointSpec spec{.model = "resnet18", .size = 224, .batch = 8,
//                               .train = true, .graph = true};
//   duet::bench::PointResult r = duet::bench::run_point(spec);
//   // r.step_s: one entry per timed step; r.peak_bytes: allocator high-water mark
//   spec.autocast = duet::bfloat16;   // the same point under autocast (duet-bench --precision)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "duet/dtype.h"
#include "duet/nn/module.h"

namespace duet::bench {

struct PointSpec {
  std::string model;
  int64_t size = 224;  // input (batch, 3, size, size)
  int64_t batch = 1;
  bool train = false;  // training step (forward + cross-entropy + backward + Adam 1e-3)
  bool graph = false;  // compiled graph instead of eager
  Device device = cpu;
  // Graph mode on CUDA: capture the step as a CUDA Graph and replay it
  // (CompileOptions::cuda_graph). Ignored on the CPU and in eager mode.
  bool cuda_graph = true;
  int64_t steps = 100;  // timed steps
  // Untimed steps first. Graph mode on CUDA runs at least 3: run 1 launches kernel by kernel
  // (and cuDNN picks its algorithms), run 2 captures, run 3 is the first replay.
  int64_t warmup = 5;
  int64_t num_classes = 1000;
  uint64_t seed = 0;
  // Mixed precision: the forward pass and the loss under autocast to this dtype (eager:
  // duet::autocast around them; graph: CompileOptions::autocast). Training in float16 adds
  // loss scaling (amp::GradScaler: scale/step/update eagerly, CompileOptions::grad_scaler in
  // graph mode). Parameters and the Adam update stay float32.
  std::optional<DType> autocast{};
};

struct PointResult {
  bool out_of_memory = false;
  std::string error;              // the out-of-memory message
  std::vector<double> step_s;     // seconds per timed step
  int64_t peak_bytes = 0;         // allocator peak during the point (model, state, activations)
  double compile_ms = 0;          // graph mode: tracing + passes + memory plan
  int64_t device_used_bytes = 0;  // GPU: cudaMemGetInfo's in-use bytes at the end of the point
  int num_captures = 0;           // graph mode on CUDA: CUDA Graph captures during the point
  // Graph mode on CUDA: the captured graph's own scratch pool (cudaMalloc'd outside the
  // caching allocator, MemoryReport::capture_scratch); added to peak_bytes, as PyTorch's
  // max_memory_allocated counts its graphs' private pools.
  int64_t capture_scratch_bytes = 0;
  int64_t warmup_run = 0;  // the untimed steps actually run
  double mean_s() const;
  double median_s() const;
};

// Whether graph mode replays a CUDA Graph at this point: graph mode, a CUDA device and
// spec.cuda_graph.
bool uses_cuda_graph(const PointSpec& spec);

// Runs one point. An allocation failure (real or past set_memory_limit) is reported as
// out_of_memory, not thrown; any other error propagates.
PointResult run_point(const PointSpec& spec);

// Multiply-accumulates of one eval-mode forward of `net` at (1, 3, size, size), in GMACs
// (torchvision's "GFLOPS" convention). Leaves `net` in eval mode.
double forward_gmacs(nn::Module& net, int64_t size = 224);

}  // namespace duet::bench

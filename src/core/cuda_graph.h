// A CUDA Graph: everything this thread queues on a device's stream between begin() and end()
// is recorded instead of run, then replayed as one launch. src/cuda/cuda_graph.cpp implements
// it; without the CUDA backend (src/cuda_off/) constructing one throws duet::Error.
//
//   CudaGraph g(cuda_device(0));
//   g.begin();
//   try { run_every_kernel_of_the_step(); } catch (...) { g.abort(); throw; }
//   g.end();            // instantiates; throws duet::Error if the capture was invalidated
//   g.launch();         // the step runs now (begin..end ran nothing)
//   g.launch();         // and again, with the same addresses
//
// Scratch that kernels take while capturing (cuda_backend::Workspace) comes from a pool the
// graph owns, so the addresses baked into the graph stay valid for every replay; the pool is
// freed with the graph.
#pragma once

#include <cstdint>
#include <memory>

#include "duet/tensor.h"

namespace duet::detail {

class CudaGraph {
 public:
  explicit CudaGraph(Device device);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Starts capturing the device's stream (relaxed mode: the graph's scratch pool may call
  // cudaMalloc while capturing). Drops an earlier capture.
  void begin();
  // Stops capturing and instantiates the graph. On failure (an op that waited on the host or
  // used another stream while capturing) the capture is dropped and duet::Error says why.
  void end();
  // Ends a capture after an exception and drops it; never throws.
  void abort() noexcept;
  // Queues one replay on the device's stream; the host does not wait.
  void launch();
  bool ready() const;
  size_t num_nodes() const;       // kernels, copies and memsets in the captured graph
  int64_t scratch_bytes() const;  // the scratch pool's size
  Device device() const { return device_; }

 private:
  struct Impl;
  Device device_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace duet::detail

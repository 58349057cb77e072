// The capture behind detail::CudaGraph (core/cuda_graph.h, which the loader forwards here):
// stream capture of the device's one stream into a cudaGraph_t, instantiated once and
// replayed with cudaGraphLaunch.
#include <cuda_runtime_api.h>

#include "cuda/runtime.h"

namespace duet::cuda_backend {

struct GraphCapture::Impl {
  CapturePool pool;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  bool capturing = false;
  size_t nodes = 0;
  explicit Impl(int device) : pool(device) {}
  void drop() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    exec = nullptr;
    graph = nullptr;
    nodes = 0;
  }
};

GraphCapture::GraphCapture(Device device) : device_(device) {
  context(device.index);  // throws if the device is not there
  impl_ = std::make_unique<Impl>(device.index);
}

GraphCapture::~GraphCapture() {
  if (!impl_) return;
  abort();
  impl_->drop();
}

void GraphCapture::begin() {
  DUET_CHECK(!impl_->capturing, "CudaGraph::begin: ", device_, " is already being captured");
  DUET_CHECK(!active_capture_pool(), "CudaGraph::begin: another CUDA Graph is ",
             "being captured on this thread; expected one capture at a time");
  impl_->drop();
  auto& ctx = context(device_.index);
  // Relaxed: the scratch pool may cudaMalloc while capturing. Anything that waits on the
  // stream (a sync, a device-to-host read) still fails the capture, which end() reports.
  DUET_CUDA_CHECK(cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeRelaxed));
  impl_->capturing = true;
  active_capture_pool() = &impl_->pool;
}

void GraphCapture::end() {
  DUET_CHECK(impl_->capturing, "CudaGraph::end: ", device_, " is not being captured");
  active_capture_pool() = nullptr;
  impl_->capturing = false;
  auto& ctx = context(device_.index);
  cudaGraph_t graph = nullptr;
  const cudaError_t e = cudaStreamEndCapture(ctx.stream, &graph);
  if (e != cudaSuccess || !graph) {
    cudaGetLastError();
    if (graph) cudaGraphDestroy(graph);
    throw Error(detail::cat("CudaGraph::end: capturing ", device_,
                            "'s stream failed: ", cudaGetErrorString(e),
                            " (an op waited on the host or used another stream while capturing); "
                            "expected only stream-ordered work"));
  }
  impl_->graph = graph;
  DUET_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &impl_->nodes));
  const cudaError_t ie = cudaGraphInstantiate(&impl_->exec, graph, 0);
  if (ie != cudaSuccess) {
    cudaGetLastError();
    impl_->exec = nullptr;
    impl_->drop();
    throw Error(detail::cat("CudaGraph::end: instantiating the captured graph on ", device_,
                            " failed: ", cudaGetErrorString(ie)));
  }
}

void GraphCapture::abort() noexcept {
  if (!impl_ || !impl_->capturing) return;
  active_capture_pool() = nullptr;
  impl_->capturing = false;
  cudaSetDevice(device_.index);
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(context(device_.index).stream, &graph);
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();
}

void GraphCapture::launch() {
  DUET_CHECK(impl_->exec, "CudaGraph::launch: nothing captured on ", device_,
             "; expected begin() and end() first");
  auto& ctx = context(device_.index);
  DUET_CUDA_CHECK(cudaGraphLaunch(impl_->exec, ctx.stream));
}

bool GraphCapture::ready() const {
  return impl_ && impl_->exec;
}
size_t GraphCapture::num_nodes() const {
  return impl_ ? impl_->nodes : 0;
}
int64_t GraphCapture::scratch_bytes() const {
  return impl_ ? impl_->pool.bytes() : 0;
}

}  // namespace duet::cuda_backend

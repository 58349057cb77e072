// The CUDA backend's entry points in a build without it (DUET_CUDA=OFF): no devices, and
// every attempt to use one is a duet::Error that says why.
#include "core/cuda_graph.h"
#include "core/device_backend.h"
#include "duet/cuda.h"

namespace duet {

bool cuda_built() {
  return false;
}
int cuda_device_count() {
  return 0;
}
void synchronize(Device device) {
  if (device.type != DeviceType::cpu) check_device_available(device);
}
DeviceMemoryInfo device_memory_info(Device device) {
  check_device_available(device);
  return {};  // cpu: not tracked
}

namespace detail {

Allocator& cuda_allocator(int index) {
  check_device_available(Device{DeviceType::cuda, index});
  throw Error("unreachable");
}
void cuda_copy(const Tensor& src, const Tensor& dst) {
  check_device_available(src.device().type == DeviceType::cuda ? src.device() : dst.device());
}
void cuda_fill(const Tensor& dst, double value) {
  check_device_available(dst.device());
}
void cuda_write_int64(const Tensor& dst, const int64_t*, int64_t) {
  check_device_available(dst.device());
}
void cuda_memory_info(int index, int64_t& free_bytes, int64_t& total_bytes) {
  check_device_available(Device{DeviceType::cuda, index});
}

}  // namespace detail
}  // namespace duet

// CUDA Graphs need the backend; the constructor says so (check_device_available throws).
namespace duet::detail {

struct CudaGraph::Impl {};

CudaGraph::CudaGraph(Device device) : device_(device) {
  check_device_available(device.type == DeviceType::cuda ? device : Device{DeviceType::cuda, 0});
  throw Error("CudaGraph: this build has no CUDA backend");
}
CudaGraph::~CudaGraph() = default;
void CudaGraph::begin() {}
void CudaGraph::end() {}
void CudaGraph::abort() noexcept {}
void CudaGraph::launch() {}
bool CudaGraph::ready() const {
  return false;
}
size_t CudaGraph::num_nodes() const {
  return 0;
}
int64_t CudaGraph::scratch_bytes() const {
  return 0;
}

}  // namespace duet::detail

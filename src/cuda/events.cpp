// CUDA events for the profiler (duet/profiler.h, src/profiler/recorder.cpp): recorded on a
// device's stream while a profile records, resolved to times when it stops. Events are
// pooled per device (cudaEventCreate once, reused), so recording one in steady state is a
// cudaEventRecord and nothing else: no allocation, no host wait.
#include <mutex>
#include <vector>

#include "cuda/runtime.h"

namespace duet::cuda_backend {
namespace {

struct PooledEvent {
  cudaEvent_t event = nullptr;
  int device = 0;
};

std::mutex& pool_mutex() {
  static std::mutex m;
  return m;
}
std::vector<std::vector<PooledEvent*>>& pools() {  // [device] -> free events
  static auto* p = new std::vector<std::vector<PooledEvent*>>();  // leaked, like the contexts
  return *p;
}

}  // namespace

void* event_record(int index) {
  DeviceContext& ctx = context(index);  // also makes `index` current
  PooledEvent* e = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool_mutex());
    auto& all = pools();
    if (static_cast<int>(all.size()) <= index) all.resize(static_cast<size_t>(index) + 1);
    if (!all[index].empty()) {
      e = all[index].back();
      all[index].pop_back();
    }
  }
  if (!e) {
    e = new PooledEvent{nullptr, index};
    const cudaError_t err = cudaEventCreate(&e->event);  // timing enabled (the default)
    if (err != cudaSuccess) {
      delete e;
      DUET_CUDA_CHECK(err);
    }
  }
  const cudaError_t err = cudaEventRecord(e->event, ctx.stream);
  if (err != cudaSuccess) {
    event_release(e);
    DUET_CUDA_CHECK(err);
  }
  return e;
}

double event_elapsed_ms(void* start, void* end) {
  auto* a = static_cast<PooledEvent*>(start);
  auto* b = static_cast<PooledEvent*>(end);
  context(b->device);
  DUET_CUDA_CHECK(cudaEventSynchronize(b->event));  // the profile's stop(): never in a step
  float ms = 0;
  DUET_CUDA_CHECK(cudaEventElapsedTime(&ms, a->event, b->event));
  return static_cast<double>(ms);
}

void event_release(void* event) noexcept {
  auto* e = static_cast<PooledEvent*>(event);
  if (!e) return;
  std::lock_guard<std::mutex> lock(pool_mutex());
  auto& all = pools();
  if (static_cast<int>(all.size()) <= e->device) all.resize(static_cast<size_t>(e->device) + 1);
  all[e->device].push_back(e);
}

}  // namespace duet::cuda_backend

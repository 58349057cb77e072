// Device names and the CUDA backend settings: the parts of include/duet/cuda.h that are the
// same with and without the backend (src/core/cuda_loader.cpp answers the rest).
#include <atomic>
#include <charconv>

#include "core/device_backend.h"
#include "duet/cuda.h"
#include "duet/error.h"

namespace duet {
namespace {
std::atomic<bool> g_allow_tf32{false};
std::atomic<bool> g_deterministic{false};
std::atomic<int64_t> g_workspace_limit{int64_t{1} << 30};
std::atomic<int64_t> g_sync_count{0};
}  // namespace

namespace detail {
void note_cuda_sync() {
  g_sync_count.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace detail

int64_t cuda_sync_count() {
  return g_sync_count.load(std::memory_order_relaxed);
}

Device cuda_device(int index) {
  DUET_CHECK(index >= 0, "cuda_device: index ", index, " (expected >= 0)");
  return Device{DeviceType::cuda, index};
}

void check_device_available(Device device) {
  if (device.type == DeviceType::cpu) {
    DUET_CHECK(device.index == 0, "device ", device, ": there is one CPU device, cpu:0");
    return;
  }
  const int n = cuda_device_count();  // loads the CUDA backend library on first use
  DUET_CHECK(n > 0, "device ", device, " is not available: ", cuda_unavailable_reason());
  DUET_CHECK(device.index < n, "device ", device, " is not available: this process sees ", n,
             " CUDA device", n == 1 ? "" : "s", " (cuda:0", n > 1 ? "..cuda:" : "",
             n > 1 ? std::to_string(n - 1) : std::string(), ")");
}

Device parse_device(const std::string& name) {
  Device d;
  if (name == "cpu") {
    d = cpu;
  } else if (name == "cuda") {
    d = Device{DeviceType::cuda, 0};
  } else if (name.rfind("cuda:", 0) == 0 && name.size() > 5) {
    int index = -1;
    const char* first = name.data() + 5;
    const char* last = name.data() + name.size();
    auto [ptr, ec] = std::from_chars(first, last, index);
    DUET_CHECK(ec == std::errc() && ptr == last && index >= 0, "device '", name,
               "': expected cpu, cuda or cuda:N with N a device index");
    d = Device{DeviceType::cuda, index};
  } else {
    DUET_CHECK(false, "device '", name, "': expected cpu, cuda or cuda:N");
  }
  check_device_available(d);
  return d;
}

void set_cuda_allow_tf32(bool allow) {
  g_allow_tf32 = allow;
}
bool cuda_allow_tf32() {
  return g_allow_tf32;
}
void set_cuda_deterministic(bool deterministic) {
  g_deterministic = deterministic;
}
bool cuda_deterministic() {
  return g_deterministic;
}
void set_cuda_workspace_limit(int64_t bytes) {
  DUET_CHECK(bytes >= 0, "set_cuda_workspace_limit: ", bytes, " bytes (expected >= 0)");
  g_workspace_limit = bytes;
}
int64_t cuda_workspace_limit() {
  return g_workspace_limit;
}

}  // namespace duet

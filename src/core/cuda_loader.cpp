// The CUDA backend loader: libduet's side of device_backend.h, cuda_graph.h and the device
// queries of duet/cuda.h. It holds no CUDA code. On the first CUDA question (a CUDA device,
// cuda_available(), ...) it opens the backend library, libduet_cuda.so, and forwards every
// call through the function table the library returns (core/cuda_backend_abi.h). Where there
// is no backend, or no driver or device behind it, every answer is "no devices" and every use
// is a duet::Error that says which (cuda_unavailable_reason()).
//
// Search order (docs/cuda.md, "The backend library"), first file that exists wins:
//   1. $DUET_CUDA_BACKEND: the library's full path (nothing else is tried);
//   2. each directory of $DUET_BACKEND_PATH (':'-separated);
//   3. the directory libduet.so itself was loaded from (dladdr);
//   4. the install libdir (DUET_INSTALL_LIBDIR, set by CMake).
// (2 to 4: core/plugin_search.h, shared with the collective engines' loader.)
#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/cuda_backend_abi.h"
#include "core/cuda_graph.h"
#include "core/plugin_search.h"
#include "core/device_backend.h"
#include "duet/cuda.h"
#include "duet/error.h"

#ifndef DUET_VERSION
#define DUET_VERSION "unknown"
#endif

namespace duet {
namespace detail {
namespace {

// The outcome of loading, decided once per process.
struct Backend {
  const CudaBackendTable* table = nullptr;  // null: no usable backend
  std::string path;                         // the library loaded (or that failed to load)
  int devices = 0;
  std::string why;  // cuda_unavailable_reason(); empty when devices > 0
};

#if DUET_SHARED_LIBRARY
std::vector<std::string> candidates() { return plugin_candidates(kCudaBackendFile); }

std::string not_found(const std::vector<std::string>& looked) {
  std::string list;
  for (const auto& p : looked) list += (list.empty() ? "" : ", ") + p;
  std::string msg =
      cat("the CUDA backend library ", kCudaBackendFile, " was not found (looked for ", list,
          "; set DUET_CUDA_BACKEND to its path or DUET_BACKEND_PATH to its "
          "directory)");
#if !DUET_CUDA_PLUGIN_BUILT
  msg += "; this duet was configured without the CUDA backend (DUET_CUDA=OFF), so none was built";
#endif
  return msg;
}

// Opens `path`, checks its table and registers its kernels; on failure b.why says why.
void open_backend(Backend& b, const std::string& path) {
  b.path = path;
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // never closed: kernels stay
  if (!handle) {
    const char* err = dlerror();
    const std::string text = err ? err : "dlopen failed";
    b.why = cat("the CUDA backend library ", path, " could not be loaded: ", text);
    if (text.find("cannot open shared object file") != std::string::npos)
      b.why += " (it needs the CUDA runtime, cuBLAS and cuDNN libraries on the library path)";
    return;
  }
  auto entry = reinterpret_cast<CudaBackendEntry>(dlsym(handle, kCudaBackendEntry));
  if (!entry) {
    b.why = cat(path, " is not a duet CUDA backend library (it has no ", kCudaBackendEntry,
                " function)");
    return;
  }
  const CudaBackendTable* t = entry();
  if (!t || t->abi != kCudaBackendAbi || t->size != sizeof(CudaBackendTable) || !t->version ||
      std::string(t->version) != DUET_VERSION) {
    b.why = cat("the CUDA backend library ", path, " was built for another duet (backend ABI ",
                t ? t->abi : 0, ", version ", t && t->version ? t->version : "?",
                "; this libduet: ABI ", kCudaBackendAbi, ", version ", DUET_VERSION,
                "); use the libduet_cuda.so built with this libduet");
    return;
  }
  try {
    t->register_kernels();
  } catch (const std::exception& e) {
    b.why = cat("the CUDA backend library ", path, " failed to register its kernels: ", e.what());
    return;
  }
  b.table = t;
  const char* why = nullptr;
  b.devices = t->device_count(&why);
  if (b.devices <= 0) {
    b.devices = 0;
    b.why =
        cat(why ? why : "no CUDA device is visible to this process", " (CUDA backend: ", path, ")");
  }
}

#endif  // DUET_SHARED_LIBRARY

Backend load() {
  Backend b;
#if !DUET_SHARED_LIBRARY
  b.why =
      "this libduet is a static library, which cannot load the CUDA backend library (build "
      "duet as a shared library, the default: -DDUET_SHARED=ON)";
  return b;
#else
  if (const char* explicit_path = std::getenv("DUET_CUDA_BACKEND");
      explicit_path && *explicit_path) {
    if (!plugin_file_exists(explicit_path)) {
      b.why = cat("the CUDA backend library was not found: DUET_CUDA_BACKEND=", explicit_path,
                  " does not exist");
      return b;
    }
    open_backend(b, explicit_path);
    return b;
  }
  const std::vector<std::string> looked = candidates();
  for (const auto& path : looked) {
    if (plugin_file_exists(path)) {
      open_backend(b, path);
      return b;
    }
  }
  b.why = not_found(looked);
  return b;
#endif
}

const Backend& backend() {
  static const Backend b = load();
  return b;
}

// The table, for a device check_device_available has accepted.
const CudaBackendTable& table() {
  const Backend& b = backend();
  DUET_CHECK(b.table, "the CUDA backend is not available: ", b.why);
  return *b.table;
}

}  // namespace

// ---- device_backend.h ----
Allocator& cuda_allocator(int index) {
  check_device_available(Device{DeviceType::cuda, index});
  return table().allocator(index);
}
void cuda_copy(const Tensor& src, const Tensor& dst) {
  check_device_available(src.device().type == DeviceType::cuda ? src.device() : dst.device());
  if (src.device().type == DeviceType::cuda && dst.device().type == DeviceType::cuda)
    check_device_available(dst.device());
  table().copy(src, dst);
}
void cuda_fill(const Tensor& dst, double value) {
  check_device_available(dst.device());
  table().fill(dst, value);
}
void cuda_write_int64(const Tensor& dst, const int64_t* values, int64_t n) {
  check_device_available(dst.device());
  table().write_int64(dst, values, n);
}
void cuda_memory_info(int index, int64_t& free_bytes, int64_t& total_bytes) {
  check_device_available(Device{DeviceType::cuda, index});
  table().memory_info(index, &free_bytes, &total_bytes);
}
void* cuda_event_record(int index) {
  check_device_available(Device{DeviceType::cuda, index});
  return table().event_record(index);
}
double cuda_event_elapsed_ms(void* start, void* end) {
  return table().event_elapsed_ms(start, end);
}
void cuda_event_release(void* event) noexcept {
  if (const auto* t = backend().table; t && event) t->event_release(event);
}
int64_t cuda_conv_find_count() {
  const auto* t = backend().table;
  return t ? t->conv_find_count() : 0;
}
int64_t cuda_conv_fused_count() {
  const auto* t = backend().table;
  return t ? t->conv_fused_count() : 0;
}
int64_t cuda_conv_own_workspace_count() {
  const auto* t = backend().table;
  return t ? t->conv_own_workspace_count() : 0;
}
void set_cuda_conv_fuse_identity_always(bool on) {
  if (const auto* t = backend().table) t->set_conv_fuse_identity_always(on);
}

// ---- cuda_graph.h ----
struct CudaGraph::Impl {
  const CudaBackendTable* t = nullptr;
  void* graph = nullptr;  // the plugin's capture object
};

CudaGraph::CudaGraph(Device device) : device_(device) {
  DUET_CHECK(device.type == DeviceType::cuda, "CudaGraph: device ", device,
             " is not a CUDA device; expected cuda:N");
  check_device_available(device);
  const CudaBackendTable& t = table();
  impl_ = std::make_unique<Impl>(Impl{&t, t.graph_create(device.index)});
}
CudaGraph::~CudaGraph() {
  if (impl_) impl_->t->graph_destroy(impl_->graph);
}
void CudaGraph::begin() {
  impl_->t->graph_begin(impl_->graph);
}
void CudaGraph::end() {
  impl_->t->graph_end(impl_->graph);
}
void CudaGraph::abort() noexcept {
  if (impl_) impl_->t->graph_abort(impl_->graph);
}
void CudaGraph::launch() {
  impl_->t->graph_launch(impl_->graph);
}
bool CudaGraph::ready() const {
  return impl_ && impl_->t->graph_ready(impl_->graph);
}
size_t CudaGraph::num_nodes() const {
  return impl_ ? impl_->t->graph_num_nodes(impl_->graph) : 0;
}
int64_t CudaGraph::scratch_bytes() const {
  return impl_ ? impl_->t->graph_scratch_bytes(impl_->graph) : 0;
}

}  // namespace detail

// ---- duet/cuda.h ----
bool cuda_built() {
  return detail::backend().table != nullptr;
}
int cuda_device_count() {
  return detail::backend().devices;
}
std::string cuda_unavailable_reason() {
  return detail::backend().why;
}
std::string cuda_backend_path() {
  const auto& b = detail::backend();
  return b.table ? b.path : std::string();
}
void synchronize(Device device) {
  if (device.type == DeviceType::cpu) return;
  check_device_available(device);
  detail::table().synchronize(device.index);
}
DeviceMemoryInfo device_memory_info(Device device) {
  check_device_available(device);
  DeviceMemoryInfo info;
  if (device.type == DeviceType::cuda)
    detail::cuda_memory_info(device.index, info.free_bytes, info.total_bytes);
  return info;
}

}  // namespace duet

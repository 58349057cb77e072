// Opens the collective engine plugins (plugin_loader.h). The search order follows the CUDA
// backend's loader (src/core/cuda_loader.cpp); a plugin is never closed.
#include "distributed/plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "core/plugin_search.h"
#include "duet/error.h"

#ifndef DUET_SHARED_LIBRARY
#define DUET_SHARED_LIBRARY 1
#endif
// The engines this build made plugins for (cmake/duet_distributed.cmake), comma-separated.
#ifndef DUET_COMM_PLUGINS_BUILT
#define DUET_COMM_PLUGINS_BUILT ""
#endif

namespace duet::distributed::detail {
namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return s;
}

// "$DUET_MPI_BACKEND".
std::string override_variable(Backend engine) {
  return "DUET_" + upper(backend_name(engine)) + "_BACKEND";
}

bool plugin_built(Backend engine) {
  const std::string built = std::string(",") + DUET_COMM_PLUGINS_BUILT + ",";
  return built.find(std::string(",") + backend_name(engine) + ",") != std::string::npos;
}

// How to get the plugin when none was found.
std::string how_to_get(Backend engine) {
  std::string how;
  switch (engine) {
    case Backend::mpi:
      how = "build duet with libopenmpi-dev installed";
      break;
    case Backend::gloo:
      how = "build duet with libgloo-dev installed";
      break;
    case Backend::nccl:
      how = "build duet with the CUDA toolkit (NCCL) and -DDUET_CUDA=ON";
      break;
    default:
      how = "build duet with the engine's development files installed";
  }
  if (!plugin_built(engine))
    how += cat("; this duet was configured without it (engine plugins built: ",
               *DUET_COMM_PLUGINS_BUILT ? DUET_COMM_PLUGINS_BUILT : "none", ")");
  return how;
}

// The entry point of `path` (opened once per process and path), or throws.
CommBackendCreateFn open_plugin(Backend engine, const std::string& path) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  dlerror();
  // RTLD_GLOBAL: MPI implementations open their own components, which expect the MPI
  // library's symbols to be global (mpi4py opens libmpi the same way).
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    const char* err = dlerror();
    throw Error(cat("distributed: the ", backend_name(engine), " engine plugin ", path,
                    " could not be loaded: ", err ? err : "dlopen failed"));
  }
  auto entry = reinterpret_cast<CommBackendCreateFn>(dlsym(handle, kCommBackendEntry));
  if (!entry)
    throw Error(cat("distributed: ", path, " is not a duet engine plugin (it has no ",
                    kCommBackendEntry, " function)"));
  return entry;
}

}  // namespace

std::string comm_plugin_file(Backend engine) {
  return cat("libduet_", backend_name(engine), ".so");
}

std::unique_ptr<CommBackend> load_comm_backend(Backend engine, const CommInit& init) {
  const std::string file = comm_plugin_file(engine);
  // A plugin links libduet.so: beside a static libduet it would bring a second copy of duet.
  if (!DUET_SHARED_LIBRARY)
    throw Error(cat("distributed: the ", backend_name(engine), " engine is not available: this ",
                    "libduet is a static library, which cannot load engine plugins (", file,
                    "); build duet as a shared library, the default: -DDUET_SHARED=ON"));
  const std::string var = override_variable(engine);
  std::string path;
  if (const char* exact = std::getenv(var.c_str()); exact && *exact) {
    if (!::duet::detail::plugin_file_exists(exact))
      throw Error(cat("distributed: the ", backend_name(engine), " engine is not available: ", var,
                      "=", exact, " does not exist"));
    path = exact;
  } else {
    const std::vector<std::string> looked = ::duet::detail::plugin_candidates(file);
    for (const auto& p : looked)
      if (::duet::detail::plugin_file_exists(p)) {
        path = p;
        break;
      }
    if (path.empty()) {
      std::string list;
      for (const auto& p : looked) list += (list.empty() ? "" : ", ") + p;
      throw Error(cat("distributed: the ", backend_name(engine), " engine is not available: ", file,
                      " was not found next to libduet (searched: ", list, "; set ", var,
                      " to its path or DUET_BACKEND_PATH to its directory); ", how_to_get(engine)));
    }
  }
  CommBackendCreateFn create = open_plugin(engine, path);
  CommInit checked = init;
  checked.abi = kCommBackendAbi;
  checked.backend = engine;
  CommBackend* made = create(checked);  // throws duet::Error when the engine fails to start
  if (!made)
    throw Error(cat("distributed: the ", backend_name(engine), " engine plugin ", path,
                    " did not create an engine"));
  return std::unique_ptr<CommBackend>(made);
}

}  // namespace duet::distributed::detail

// Opens the collective engine plugins (plugin_loader.h). The search order follows the CUDA
// backend's loader (src/core/cuda_loader.cpp); a plugin is never closed.
#include "distributed/plugin_loader.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "duet/error.h"

#ifndef DUET_INSTALL_LIBDIR
#define DUET_INSTALL_LIBDIR "/usr/local/lib"
#endif
#ifndef DUET_SHARED_LIBRARY
#define DUET_SHARED_LIBRARY 1
#endif
// The engines this build made plugins for (cmake/duet_distributed.cmake), comma-separated.
#ifndef DUET_COMM_PLUGINS_BUILT
#define DUET_COMM_PLUGINS_BUILT ""
#endif

namespace duet::distributed::detail {
namespace {

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The directory libduet was loaded from ("" if dladdr cannot say).
std::string libduet_dir() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&libduet_dir), &info) || !info.dli_fname) return "";
  std::string file = info.dli_fname;
  const size_t slash = file.rfind('/');
  return slash == std::string::npos ? "." : file.substr(0, slash);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return s;
}

// "$DUET_MPI_BACKEND".
std::string override_variable(Backend engine) {
  return "DUET_" + upper(backend_name(engine)) + "_BACKEND";
}

std::vector<std::string> candidates(const std::string& file) {
  std::vector<std::string> out;
  auto add = [&](const std::string& path) {
    for (const auto& p : out)
      if (p == path) return;
    out.push_back(path);
  };
  const char* env = std::getenv("DUET_BACKEND_PATH");
  const std::string dirs = env ? env : "";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    if (end > start) add(dirs.substr(start, end - start) + "/" + file);
    start = end + 1;
  }
  const std::string beside = libduet_dir();
  if (!beside.empty()) add(beside + "/" + file);
  add(std::string(DUET_INSTALL_LIBDIR) + "/" + file);
  return out;
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
    if (!file_exists(exact))
      throw Error(cat("distributed: the ", backend_name(engine), " engine is not available: ", var,
                      "=", exact, " does not exist"));
    path = exact;
  } else {
    const std::vector<std::string> looked = candidates(file);
    for (const auto& p : looked)
      if (file_exists(p)) {
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

// The plugin search path (plugin_search.h).
#include "core/plugin_search.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>

#ifndef DUET_INSTALL_LIBDIR
#define DUET_INSTALL_LIBDIR "/usr/local/lib"
#endif

namespace duet::detail {
namespace {

// The directory libduet was loaded from ("" if dladdr cannot say).
std::string libduet_dir() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&libduet_dir), &info) || !info.dli_fname) return "";
  std::string file = info.dli_fname;
  const size_t slash = file.rfind('/');
  return slash == std::string::npos ? "." : file.substr(0, slash);
}

}  // namespace

bool plugin_file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string> plugin_candidates(const std::string& file) {
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

}  // namespace duet::detail

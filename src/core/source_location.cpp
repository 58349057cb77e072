#include "duet/source_location.h"

#include <cstring>
#include <vector>

namespace duet {
namespace {

thread_local std::vector<SourceLoc> t_stack;

// Library files (not model code): duet's own op/nn/core sources and public headers.
bool is_library_path(const char* file) {
  static const char* kLibraryParts[] = {"/src/ops/",   "/src/nn/",    "/src/core/",
                                        "/src/eager/", "/src/graph/", "/src/optim/",
                                        "/src/data/",  "/kernels/",   "/include/duet/"};
  for (const char* part : kLibraryParts)
    if (std::strstr(file, part)) return true;
  return false;
}

// file_name() strings are static, so the answer is cached per pointer (a few dozen files).
bool is_library_file(const char* file) {
  thread_local std::vector<std::pair<const char*, bool>> cache;
  for (const auto& [f, lib] : cache)
    if (f == file) return lib;
  const bool lib = is_library_path(file);
  if (cache.size() < 256) cache.emplace_back(file, lib);
  return lib;
}

}  // namespace

std::string SourceLoc::str() const {
  if (!known()) return "<unknown>";
  const char* base = std::strrchr(file, '/');
  return std::string(base ? base + 1 : file) + ":" + std::to_string(line);
}

LocationScope::LocationScope(const std::source_location& loc) {
  if (is_library_file(loc.file_name())) return;
  t_stack.push_back({loc.file_name(), loc.line(), loc.function_name()});
  pushed_ = true;
}

LocationScope::~LocationScope() {
  if (pushed_) t_stack.pop_back();
}

SourceLoc current_location() {
  return t_stack.empty() ? SourceLoc{} : t_stack.back();
}

}  // namespace duet

// Where libduet looks for a plugin library it opens at run time (the CUDA backend
// libduet_cuda.so, the collective engines libduet_mpi.so, libduet_gloo.so, libduet_nccl.so):
//
//   for (const std::string& path : plugin_candidates("libduet_mpi.so"))
//     if (plugin_file_exists(path)) { /* dlopen(path) */ }
//
// In order, without repeats: each directory of $DUET_BACKEND_PATH (':'-separated), the
// directory libduet.so itself was loaded from (dladdr), the install libdir (DUET_INSTALL_LIBDIR,
// set by CMake). Each loader adds its own exact-path variable first ($DUET_CUDA_BACKEND, ...).
#pragma once

#include <string>
#include <vector>

namespace duet::detail {

bool plugin_file_exists(const std::string& path);
std::vector<std::string> plugin_candidates(const std::string& file);

}  // namespace duet::detail

// Finds and opens a collective engine plugin (libduet_mpi.so, libduet_gloo.so,
// libduet_nccl.so) and creates its CommBackend (comm_backend.h).
//
//   auto engine = duet::distributed::detail::load_comm_backend(Backend::mpi, init);
//
// Search order, first file that exists wins (like the CUDA backend, src/core/cuda_loader.cpp):
//   1. $DUET_MPI_BACKEND / $DUET_GLOO_BACKEND / $DUET_NCCL_BACKEND: the plugin's full path;
//   2. each directory of $DUET_BACKEND_PATH (':'-separated);
//   3. the directory libduet.so was loaded from (dladdr);
//   4. the install libdir.
#pragma once

#include <memory>
#include <string>

#include "distributed/comm_backend.h"

namespace duet::distributed::detail {

// The plugin's file name: "libduet_mpi.so".
std::string comm_plugin_file(Backend engine);

// Opens the plugin (once per process; it stays loaded) and calls its entry point. Throws
// duet::Error naming the engine, where it looked and how to get it, or the plugin's own error
// (the engine failed to start). Call on the communication thread.
std::unique_ptr<CommBackend> load_comm_backend(Backend engine, const CommInit& init);

}  // namespace duet::distributed::detail

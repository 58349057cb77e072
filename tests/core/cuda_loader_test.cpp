// The CUDA backend loader (src/core/cuda_loader.cpp) in this process: where libduet_cuda.so
// sits beside libduet (a CUDA build), it loads with or without a GPU and fills the op table's
// CUDA slots, and the reason for "no device" is the driver or the device, never "not found";
// where none was built, the reason says where the loader looked. Runs on every machine.
// tests/consumer/run_consumer.cmake checks the other outcomes (hidden, unloadable) in
// separate processes, since the loader decides once per process.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "duet/cuda.h"
#include "ops/op_def.h"

namespace duet {
namespace {

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v;
}

// libduet_cuda.so beside the libduet this test runs with ("" if there is none).
std::string backend_beside_libduet() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&cuda_unavailable_reason), &info) || !info.dli_fname)
    return "";
  std::string path = info.dli_fname;
  path = path.substr(0, path.rfind('/') + 1) + "libduet_cuda.so";
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? path : "";
}

TEST(CudaLoader, ReasonMatchesAvailability) {
  EXPECT_EQ(cuda_available(), cuda_unavailable_reason().empty()) << cuda_unavailable_reason();
  if (!cuda_built()) {
    EXPECT_EQ(cuda_device_count(), 0);
    EXPECT_EQ(cuda_backend_path(), "");
  }
}

TEST(CudaLoader, BackendBesideLibduetLoads) {
  if (env_set("DUET_CUDA_BACKEND") || env_set("DUET_BACKEND_PATH"))
    GTEST_SKIP() << "DUET_CUDA_BACKEND or DUET_BACKEND_PATH is set";
  const std::string beside = backend_beside_libduet();
  const std::string why = cuda_unavailable_reason();
  if (beside.empty()) {  // DUET_CUDA=OFF (or a static libduet): nothing to load
    EXPECT_FALSE(cuda_built());
    EXPECT_TRUE(why.find("was not found") != std::string::npos ||
                why.find("static library") != std::string::npos)
        << why;
    return;
  }
  EXPECT_TRUE(cuda_built()) << why;
  EXPECT_EQ(cuda_backend_path(), beside);
  EXPECT_EQ(why.find("not found"), std::string::npos) << why;
  if (!cuda_available()) {  // this machine: libcudart loads, then no driver or no device
    EXPECT_TRUE(why.find("no CUDA driver") != std::string::npos ||
                why.find("the CUDA driver") != std::string::npos ||
                why.find("no CUDA device is visible") != std::string::npos)
        << why;
    EXPECT_NE(why.find(beside), std::string::npos) << why;
  }
}

// Loading the backend fills every op's CUDA slot, except the ops no device runs a kernel for.
TEST(CudaLoader, BackendRegistersEveryKernel) {
  if (!cuda_built()) GTEST_SKIP() << cuda_unavailable_reason();
  const auto cpu = static_cast<size_t>(DeviceType::cpu);
  const auto gpu = static_cast<size_t>(DeviceType::cuda);
  for (const OpDef* op : all_ops()) {
    if (!op->kernels[cpu]) continue;  // views, to_device: no kernel on any device
    if (op->has(OpTrait::collective)) continue;  // the NCCL plugin registers these at init()
    if (op->has(OpTrait::cpu_only)) continue;  // the blocked-layout ops of CPU inference
    EXPECT_TRUE(op->kernels[gpu]) << op->name << " has a CPU kernel but no CUDA kernel";
    if (op->workspace[cpu]) {
      EXPECT_TRUE(op->workspace[gpu]) << op->name << ": no CUDA workspace query";
    }
  }
}

}  // namespace
}  // namespace duet

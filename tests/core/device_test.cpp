// Device names and the "device not available" errors. These run on every machine: with no
// GPU (or no CUDA backend) a CUDA device must be a clear duet::Error, never a crash.
#include <gtest/gtest.h>

#include "duet/cuda.h"
#include "duet/duet.h"
#include "duet/graph.h"
#include "duet/nn.h"
#include "test_util.h"

namespace duet {
namespace {

TEST(Device, ParsesNames) {
  EXPECT_EQ(parse_device("cpu"), cpu);
  EXPECT_EQ(cuda_device(3), (Device{DeviceType::cuda, 3}));
  EXPECT_EQ(cuda_device(3).str(), "cuda:3");
  EXPECT_DUET_ERROR(parse_device("tpu"), "device 'tpu': expected cpu, cuda or cuda:N");
  EXPECT_DUET_ERROR(parse_device("cuda:x"), "device 'cuda:x': expected cpu, cuda or cuda:N");
  EXPECT_DUET_ERROR(parse_device("cuda:-1"), "device 'cuda:-1'");
  EXPECT_DUET_ERROR(cuda_device(-2), "cuda_device: index -2 (expected >= 0)");
  EXPECT_DUET_ERROR(parse_device("cuda:99"), "device cuda:99 is not available");
}

TEST(Device, CountMatchesAvailability) {
  EXPECT_GE(cuda_device_count(), 0);
  EXPECT_EQ(cuda_available(), cuda_device_count() > 0);
  if (!cuda_built()) {
    EXPECT_EQ(cuda_device_count(), 0);
  }
}

TEST(Device, SettingsRoundTrip) {
  EXPECT_FALSE(cuda_allow_tf32());  // off by default
  EXPECT_FALSE(cuda_deterministic());
  set_cuda_allow_tf32(true);
  set_cuda_deterministic(true);
  EXPECT_TRUE(cuda_allow_tf32());
  EXPECT_TRUE(cuda_deterministic());
  set_cuda_allow_tf32(false);
  set_cuda_deterministic(false);
  const int64_t old = cuda_workspace_limit();
  set_cuda_workspace_limit(1 << 20);
  EXPECT_EQ(cuda_workspace_limit(), 1 << 20);
  set_cuda_workspace_limit(old);
  EXPECT_DUET_ERROR(set_cuda_workspace_limit(-1), "set_cuda_workspace_limit: -1 bytes");
}

// Without a GPU every way of reaching one says why, and the CPU state is untouched.
TEST(Device, CudaWithoutGpuIsAnError) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  const std::string why = cuda_unavailable_reason();  // tests/core/cuda_loader_test.cpp
  EXPECT_FALSE(why.empty());
  EXPECT_DUET_ERROR(parse_device("cuda"), "device cuda:0 is not available", why);
  Tensor x = Tensor::ones({2, 3});
  EXPECT_DUET_ERROR(x.to(cuda), "device cuda:0 is not available", why);
  EXPECT_DUET_ERROR(Tensor::zeros({2}, float32, cuda), "device cuda:0 is not available", why);
  EXPECT_DUET_ERROR(memory_stats(cuda), "device cuda:0 is not available");
  EXPECT_DUET_ERROR(synchronize(cuda), "device cuda:0 is not available");
  EXPECT_DUET_ERROR(device_memory_info(cuda), "device cuda:0 is not available");
  nn::Linear lin(3, 2);
  EXPECT_DUET_ERROR(lin.to(cuda), "device cuda:0 is not available");
  EXPECT_EQ(lin.weight.device(), cpu);
  EXPECT_EQ(sum(x).item<double>(), 6.0);
  EXPECT_EQ(cuda_sync_count(), 0);  // nothing ever waited on a GPU
}

// Graph mode runs where the values are; without a GPU, compiling a CUDA graph says why it
// can't, before anything is allocated.
TEST(Device, GraphOnMissingGpuSaysWhy) {
  Graph g;
  Tensor x = g.input("x", {2, 3}, float32, cuda);
  Tensor y = relu(x);
  if (cuda_available()) GTEST_SKIP() << "a GPU is present (tests/cuda covers graph mode there)";
  EXPECT_DUET_ERROR(compile(g, {y}), "device cuda:0 is not available");
}

// Every value of a graph lives on one device (the arena's).
TEST(Device, GraphWithTwoDevicesIsRefused) {
  Graph g;
  Tensor x = g.input("x", {2, 3});
  Tensor y = relu(x);
  Tensor z;
  try {
    z = y.to(cuda);
  } catch (const Error& e) {
    // Without a GPU, recording the move already fails (to_device checks its target).
    EXPECT_FALSE(cuda_available());
    EXPECT_NE(std::string(e.what()).find("device cuda:0 is not available"), std::string::npos)
        << e.what();
    return;
  }
  EXPECT_DUET_ERROR(compile(g, {z}), "compile: graph #", "has values on cpu and on cuda:0",
                    "expected every value on one device");
}

TEST(Device, ToSameDeviceIsIdentity) {
  Tensor x = Tensor::ones({2, 3});
  EXPECT_TRUE(x.to(cpu).is_same(x));
  EXPECT_NO_THROW(synchronize(cpu));
  EXPECT_EQ(device_memory_info(cpu).total_bytes, 0);
}

}  // namespace
}  // namespace duet

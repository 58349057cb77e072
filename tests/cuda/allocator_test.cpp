// The CUDA caching allocator: counters (current, peak, reserved, cudaMalloc calls, the
// device's own view), reuse without cudaMalloc, empty_cache, and out-of-memory errors that
// leave the allocator usable.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda_test_util.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "test_util.h"

namespace duet {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

TEST(CudaAllocator, CountersFollowTensors) {
  DUET_REQUIRE_CUDA();
  synchronize(cuda);
  empty_cache(cuda);
  reset_peak_memory(cuda);
  const MemoryStats s0 = memory_stats(cuda);
  {
    Tensor a = Tensor::empty({kMiB / 4}, float32, cuda);  // exactly 1 MiB
    const MemoryStats s1 = memory_stats(cuda);
    EXPECT_EQ(s1.current_bytes - s0.current_bytes, kMiB);
    EXPECT_EQ(s1.peak_bytes, s1.current_bytes);
    EXPECT_GE(s1.reserved_bytes, s1.current_bytes);
    EXPECT_EQ(s1.num_allocs, 1);
    EXPECT_GT(s1.device_total_bytes, 0);
    EXPECT_GT(s1.device_used_bytes, 0);
    EXPECT_LE(s1.device_used_bytes, s1.device_total_bytes);
    Tensor b = Tensor::empty({3}, float32, cuda);  // 12 bytes count as 512
    EXPECT_EQ(memory_stats(cuda).current_bytes - s1.current_bytes, 512);
  }
  const MemoryStats s2 = memory_stats(cuda);
  EXPECT_EQ(s2.current_bytes, s0.current_bytes);
  EXPECT_EQ(s2.peak_bytes - s0.current_bytes, kMiB + 512);
  EXPECT_EQ(s2.num_frees, 2);
  reset_peak_memory(cuda);
  EXPECT_EQ(memory_stats(cuda).peak_bytes, s2.current_bytes);
}

TEST(CudaAllocator, SteadyStateReusesBlocks) {
  DUET_REQUIRE_CUDA();
  Generator gen(1);
  Tensor x = Tensor::randn({64, 256}, gen).to(cuda);
  auto step = [&] { return sum(mul(add(x, 1.0), x)).item<double>(); };
  const double first = step();
  reset_peak_memory(cuda);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(step(), first);
  EXPECT_EQ(memory_stats(cuda).num_device_mallocs, 0);  // every block came from the cache
  EXPECT_GT(memory_stats(cuda).num_allocs, 0);
}

// A steady-state eager training step queues kernels only: no cudaMalloc and no host wait
// until a value is read.
TEST(CudaAllocator, SteadyStateTrainingStepNeitherAllocatesNorWaits) {
  DUET_REQUIRE_CUDA();
  Generator gen(2);
  nn::Conv2d conv(3, 8, 3, {.padding = {1, 1}});
  nn::BatchNorm2d bn(8);
  nn::Linear fc(8, 10);
  conv.to(cuda);
  bn.to(cuda);
  fc.to(cuda);
  std::vector<Tensor> params = conv.parameters();
  for (const Tensor& p : bn.parameters()) params.push_back(p);
  for (const Tensor& p : fc.parameters()) params.push_back(p);
  optim::Adam opt(params, 1e-3);
  Tensor x = Tensor::randn({4, 3, 16, 16}, gen).to(cuda);
  Tensor y = Tensor::from_vector<int64_t>({1, 2, 3, 4}, {4}).to(cuda);
  Tensor loss;
  auto step = [&] {
    opt.zero_grad();
    Tensor h = relu(bn(conv(x)));
    loss = cross_entropy(fc(mean(h, {2, 3})), y);
    loss.backward();
    opt.step();
  };
  step();  // first step: cudnnFind, optimizer state, cached blocks
  step();
  synchronize(cuda);
  reset_peak_memory(cuda);
  const int64_t syncs = cuda_sync_count();
  for (int i = 0; i < 3; ++i) step();
  EXPECT_EQ(cuda_sync_count(), syncs);
  EXPECT_EQ(memory_stats(cuda).num_device_mallocs, 0);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));  // reading the loss waits once
  EXPECT_EQ(cuda_sync_count(), syncs + 1);
}

TEST(CudaAllocator, EmptyCacheReturnsReservedMemory) {
  DUET_REQUIRE_CUDA();
  { Tensor big = Tensor::empty({64 * kMiB / 4}, float32, cuda); }
  synchronize(cuda);
  const MemoryStats before = memory_stats(cuda);
  EXPECT_GE(before.reserved_bytes - before.current_bytes, 64 * kMiB);
  empty_cache(cuda);
  const MemoryStats after = memory_stats(cuda);
  EXPECT_GE(after.reserved_bytes, after.current_bytes);  // only live blocks stay reserved
  EXPECT_LE(after.reserved_bytes, before.reserved_bytes - 64 * kMiB);
}

TEST(CudaAllocator, LimitGivesAnErrorWithTheFigures) {
  DUET_REQUIRE_CUDA();
  set_memory_limit(cuda, memory_stats(cuda).current_bytes + kMiB);
  EXPECT_DUET_ERROR(Tensor::empty({kMiB}, float32, cuda), "cuda:0 allocator: out of memory",
                    "allocating 4194304 bytes", "allocated", "reserved", "set_memory_limit");
  set_memory_limit(cuda, 0);
  EXPECT_NO_THROW(Tensor::empty({kMiB}, float32, cuda));
}

TEST(CudaAllocator, RealOutOfMemoryIsAnErrorNotAnAbort) {
  DUET_REQUIRE_CUDA();
  const int64_t total = device_memory_info(cuda).total_bytes;
  ASSERT_GT(total, 0);
  const int64_t before = memory_stats(cuda).current_bytes;
  // Twice the GPU's capacity can never be satisfied.
  EXPECT_DUET_ERROR(Tensor::empty({total / 2}, float32, cuda), "cuda:0 allocator: out of memory",
                    "allocated", "reserved by duet", "the device has", "free");
  EXPECT_EQ(memory_stats(cuda).current_bytes, before);
  // The device and the allocator still work.
  Tensor y = add(Tensor::ones({4}, float32, cuda), 1.0);
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(4, 2.0f));
}

}  // namespace
}  // namespace duet

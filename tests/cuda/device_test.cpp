// CUDA tensors: host<->device copies (every dtype, views, broadcasts, large transfers through
// the staging buffers), fills, device-mismatch errors, gradients across .to(), Module::to.
#include <gtest/gtest.h>

#include "cuda_test_util.h"
#include "duet/nn.h"
#include "test_util.h"

namespace duet {
namespace {

TEST(CudaDevice, RoundTripEveryDtype) {
  DUET_REQUIRE_CUDA();
  Generator gen(3);
  Tensor f = Tensor::randn({3, 5}, gen);
  for (DType t : {float32, float64, int64, bool_}) {
    SCOPED_TRACE(dtype_name(t));
    Tensor h = mul(f, 10.0).to(t);
    Tensor d = h.to(cuda);
    EXPECT_EQ(d.device(), cuda);
    EXPECT_EQ(d.dtype(), t);
    EXPECT_EQ(d.to(cpu).to_vector<double>(), h.to_vector<double>());
    EXPECT_EQ(d.to_vector<double>(), h.to_vector<double>());  // to_vector reads device values
  }
}

TEST(CudaDevice, ViewsAndBroadcastCopies) {
  DUET_REQUIRE_CUDA();
  Generator gen(4);
  Tensor a = Tensor::randn({4, 6}, gen);
  // A transposed (non-contiguous) host view goes up with its logical layout.
  test::expect_close(a.transpose(0, 1).to(cuda).to(cpu), a.transpose(0, 1).contiguous(), 0, 0);
  // A strided device view comes down the same way.
  Tensor d = a.to(cuda);
  test::expect_close(d.slice(1, 1, 6, 2).to(cpu), a.slice(1, 1, 6, 2).contiguous(), 0, 0);
  // copy_ across devices with broadcast and dtype conversion, into a device view.
  Tensor dst = Tensor::zeros({4, 6}, float64, cuda);
  Tensor row = Tensor::from_vector({1, 2, 3}, {3});
  dst.slice(1, 0, 6, 2).copy_(row);
  std::vector<double> v = dst.to_vector<double>();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 6; ++c) EXPECT_EQ(v[r * 6 + c], c % 2 ? 0.0 : 1.0 + c / 2) << r << c;
}

TEST(CudaDevice, LargeTransfersUseEveryStagingChunk) {
  DUET_REQUIRE_CUDA();
  // 5M floats = 20 MB: more than two 8 MB staging buffers, so both get reused.
  Tensor h = Tensor::arange(5'000'000, float32);
  Tensor back = h.to(cuda).to(cpu);
  std::vector<float> v = back.to_vector<float>();
  ASSERT_EQ(v.size(), 5'000'000u);
  for (size_t i = 0; i < v.size(); i += 99'991) EXPECT_EQ(v[i], static_cast<float>(i));
  EXPECT_EQ(v.back(), 4'999'999.0f);
}

TEST(CudaDevice, FactoriesAndFill) {
  DUET_REQUIRE_CUDA();
  EXPECT_EQ(Tensor::zeros({3}, float32, cuda).to_vector<float>(), std::vector<float>(3, 0));
  EXPECT_EQ(Tensor::ones({2}, int64, cuda).to_vector<int64_t>(), std::vector<int64_t>(2, 1));
  EXPECT_EQ(Tensor::full({2}, 2.5, float64, cuda).to_vector<double>(), std::vector<double>(2, 2.5));
  Tensor t = Tensor::zeros({2, 3}, float32, cuda);
  t.transpose(0, 1).slice(0, 1, 2).fill_(7.0);  // column 1
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 7, 0, 0, 7, 0}));
}

TEST(CudaDevice, MixingDevicesNamesBoth) {
  DUET_REQUIRE_CUDA();
  Tensor a = Tensor::ones({2, 2});
  Tensor b = Tensor::ones({2, 2}, float32, cuda);
  EXPECT_DUET_ERROR(add(a, b), "add: input 0 is on cpu but input 1 is on cuda:0",
                    "expected all inputs on one device");
  EXPECT_DUET_ERROR(matmul(b, a), "matmul: input 0 is on cuda:0 but input 1 is on cpu");
}

TEST(CudaDevice, GradientFlowsBackAcrossTo) {
  DUET_REQUIRE_CUDA();
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
  Tensor y = mul(x.to(cuda), x.to(cuda));  // y = x^2 on the GPU
  sum(y).backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().device(), cpu);
  test::expect_values(x.grad(), {2, 4, 6});
}

TEST(CudaDevice, ModuleToMovesParametersAndBuffers) {
  DUET_REQUIRE_CUDA();
  Generator gen(5);
  nn::BatchNorm2d bn(4);
  nn::Linear lin(3, 2);
  Tensor w_before = lin.weight.detach().clone();
  Tensor handle = lin.weight;  // handles held elsewhere (optimizers) follow the move
  lin.to(cuda);
  bn.to(cuda);
  EXPECT_EQ(handle.device(), cuda);
  EXPECT_TRUE(handle.requires_grad());
  test::expect_close(handle.to(cpu), w_before, 0, 0);
  for (const Tensor& b : bn.buffers()) EXPECT_EQ(b.device(), cuda);
  lin.to(cpu);
  EXPECT_EQ(handle.device(), cpu);
  test::expect_close(handle, w_before, 0, 0);
}

}  // namespace
}  // namespace duet

// float16 / bfloat16 on CUDA against the CPU (label cuda; skipped without a device): every op
// the CUDA backend registers as native for a 16-bit dtype (OpDef::native_low_precision,
// src/cuda/kernel_registry.cpp), and every other op that runs on CUDA and takes the dtype
// (through the float32 round trip), on every sample of the op table (OpDef::samples), with the
// floating inputs rounded to the dtype; the reference is the CPU op in float32 on the same
// rounded values. Also batch norm with a 16-bit x and float32 parameters, and conv2d / linear
// forward and backward through autograd.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "op_samples.h"

using namespace duet;
using namespace duet::test;

namespace {

uint8_t native_bit(DType dt) {
  return dt == bfloat16 ? kNativeBFloat16 : kNativeFloat16;
}

bool native_on_cuda(const OpDef& op, DType dt) {
  return (op.native_low_precision[static_cast<int>(DeviceType::cuda)] & native_bit(dt)) != 0;
}

// |gpu - cpu| <= tol (1 + |cpu|): a few roundings to the dtype (bfloat16 keeps 8 significant
// bits, float16 11) of values of order 1 to 10; the sums inside run in float32 on both sides.
double tol(DType dt) {
  return dt == bfloat16 ? 3e-2 : 5e-3;
}

// close() (op_samples.h) for a dt result against the float32 reference, leaving out the
// elements whose reference lies beyond float16's range (65504: inf there is right).
::testing::AssertionResult close_lowp(const Tensor& actual, const Tensor& expected, DType dt) {
  if (dt != float16 || !is_floating(expected.dtype())) return close(actual, expected, tol(dt));
  const Tensor e = expected.to(cpu).to(float32);
  const Tensor in_range = le(duet::abs(e), Tensor::scalar(60000.0));
  const Tensor zero = Tensor::zeros({}, float32);
  return close(where(in_range, actual.to(cpu).to(float32), zero), where(in_range, e, zero),
               tol(dt));
}

// x rounded to dt and back: the values a dt tensor holds.
Tensor rounded(const Tensor& x, DType dt) {
  return x.to(dt).to(x.dtype());
}

std::vector<Tensor> rounded_inputs(const OpCase& c, const std::vector<Tensor>& in, DType dt) {
  std::vector<Tensor> r = in;
  for (size_t k = 0; k < r.size(); ++k)
    if (!c.sample.inputs[k].fixed && r[k].dtype() == float32) r[k] = rounded(r[k], dt);
  return r;
}

bool runs_on_cuda(const OpDef& op) {
  return op.view || op.kernels[static_cast<int>(DeviceType::cuda)];
}

// Runs every sample of every op that runs on CUDA and takes dt: those registered native for
// dt (`native`), or the others, which run their float32 kernel through the float32 round trip
// (prepare.h: the cast kernel widens the inputs and rounds the outputs on the device); returns
// how many ops ran.
int check_ops(DType dt, bool native) {
  int ops = 0;
  for (int i = 0; i < kNumOps; ++i) {
    const OpDef& op = op_at(i);
    if (!op.low_precision || !runs_on_cuda(op) || native_on_cuda(op, dt) != native) continue;
    ++ops;
    for (const OpCase& c : op_cases(op, {float32})) {
      if (c.skips(SampleCheck::no_cuda)) continue;
      SCOPED_TRACE(c.name + " in " + dtype_name(dt));
      const std::vector<Tensor> in = rounded_inputs(c, make_inputs(c), dt);
      const std::vector<Tensor> expected = run_op(c, in);
      std::vector<Tensor> in_gpu;
      for (const Tensor& t : cast_inputs(c, in, dt)) in_gpu.push_back(t.to(cuda));
      const std::vector<Tensor> actual = run_op(c, in_gpu);
      EXPECT_EQ(actual.size(), expected.size());
      for (size_t j = 0; j < actual.size() && j < expected.size(); ++j) {
        SCOPED_TRACE("output " + std::to_string(j));
        EXPECT_EQ(actual[j].device(), cuda);
        // Output 0, float32 from the float32 op, is a dt output of the dt op (cast's dtype is
        // its attribute's; other outputs may stay float32, e.g. amp_unscale's found_inf).
        if (native && j == 0 && op.id != OpId::cast && expected[j].dtype() == float32) {
          EXPECT_EQ(actual[j].dtype(), dt);
        }
        EXPECT_TRUE(close_lowp(actual[j].to(cpu), expected[j], dt));
      }
    }
  }
  return ops;
}

Tensor randn(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return Tensor::randn(s, g);
}

}  // namespace

// The ops the brief makes native are registered as such for both dtypes.
TEST(CudaLowpOps, NativeKernelsAreRegistered) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {bfloat16, float16}) {
    SCOPED_TRACE(dtype_name(dt));
    for (OpId id : {OpId::cast, OpId::clone, OpId::matmul, OpId::linear, OpId::linear_fused,
                    OpId::conv2d, OpId::conv2d_backward_input, OpId::conv2d_backward_weight,
                    OpId::conv2d_fused, OpId::batch_norm_train, OpId::batch_norm_backward,
                    OpId::relu, OpId::relu_backward, OpId::add, OpId::mul, OpId::add_relu})
      EXPECT_TRUE(native_on_cuda(op_def(id), dt)) << op_def(id).name;
  }
}

TEST(CudaLowpOps, NativeOpsMatchCpuBFloat16) {
  DUET_REQUIRE_CUDA();
  EXPECT_GE(check_ops(bfloat16, true), 16);
}

TEST(CudaLowpOps, NativeOpsMatchCpuFloat16) {
  DUET_REQUIRE_CUDA();
  EXPECT_GE(check_ops(float16, true), 16);
}

// The ops without a native kernel run bfloat16 / float16 on CUDA through the round trip, with
// the same accuracy (the float32 result rounded once).
TEST(CudaLowpOps, RoundTripOpsMatchCpuBFloat16) {
  DUET_REQUIRE_CUDA();
  EXPECT_GE(check_ops(bfloat16, false), 10);
}

TEST(CudaLowpOps, RoundTripOpsMatchCpuFloat16) {
  DUET_REQUIRE_CUDA();
  EXPECT_GE(check_ops(float16, false), 10);
}

// Batch norm as autocast runs it when asked for low precision: x (and grad) in the 16-bit
// dtype, weight, bias and the statistics float32; the statistics stay float32.
TEST(CudaLowpOps, BatchNormSixteenBitInputFloat32Params) {
  DUET_REQUIRE_CUDA();
  const Attrs eps = Attrs().set("eps", 1e-5);
  for (DType dt : {bfloat16, float16}) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor x = rounded(add(mul(randn({4, 3, 5, 6}, 1), 2.0), 0.5), dt);
    const Tensor w = randn({3}, 2), b = randn({3}, 3);
    const std::vector<Tensor> ref = call_op(op_def(OpId::batch_norm_train), {x, w, b}, eps);
    const std::vector<Tensor> got =
        call_op(op_def(OpId::batch_norm_train), {x.to(dt).to(cuda), w.to(cuda), b.to(cuda)}, eps);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].dtype(), dt);
    for (size_t j = 1; j < 4; ++j) EXPECT_EQ(got[j].dtype(), float32) << "statistic " << j;
    for (size_t j = 0; j < 4; ++j)
      EXPECT_TRUE(close(got[j].to(cpu), ref[j], j == 0 ? tol(dt) : 1e-4)) << "output " << j;

    const Tensor g = rounded(randn({4, 3, 5, 6}, 4), dt);
    const std::vector<Tensor> bref =
        call_op(op_def(OpId::batch_norm_backward), {g, x, w, ref[1], ref[2]});
    const std::vector<Tensor> bgot = call_op(
        op_def(OpId::batch_norm_backward),
        {g.to(dt).to(cuda), x.to(dt).to(cuda), w.to(cuda), ref[1].to(cuda), ref[2].to(cuda)});
    ASSERT_EQ(bgot.size(), 3u);
    EXPECT_EQ(bgot[0].dtype(), dt);
    EXPECT_EQ(bgot[1].dtype(), float32);
    EXPECT_EQ(bgot[2].dtype(), float32);
    EXPECT_TRUE(close(bgot[0].to(cpu), bref[0], tol(dt))) << "grad_x";
    EXPECT_TRUE(close(bgot[1].to(cpu), bref[1], 1e-4)) << "grad_weight";
    EXPECT_TRUE(close(bgot[2].to(cpu), bref[2], 1e-4)) << "grad_bias";

    const std::vector<Tensor> aref = call_op(op_def(OpId::channel_affine), {x, w, b});
    const Tensor agot =
        call_op1(op_def(OpId::channel_affine), {x.to(dt).to(cuda), w.to(cuda), b.to(cuda)});
    EXPECT_EQ(agot.dtype(), dt);
    EXPECT_TRUE(close(agot.to(cpu), aref[0], tol(dt))) << "channel_affine";
  }
}

// conv2d (+ bias) and linear with autograd, every tensor in the 16-bit dtype on the GPU
// against float32 on the CPU from the same rounded values: outputs and the gradients of x, w
// and b (the backward GEMMs and cuDNN's backward-data / backward-filter in the dtype).
TEST(CudaLowpOps, ConvAndLinearForwardBackward) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {bfloat16, float16}) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor x = rounded(randn({2, 8, 9, 9}, 11), dt);
    const Tensor w = rounded(mul(randn({16, 8, 3, 3}, 12), 0.2), dt);
    const Tensor b = rounded(randn({16}, 13), dt);
    const Tensor up = rounded(randn({2, 16, 5, 5}, 14), dt);
    const Tensor lx = rounded(randn({6, 40}, 15), dt);
    const Tensor lw = rounded(mul(randn({24, 40}, 16), 0.2), dt);
    const Tensor lb = rounded(randn({24}, 17), dt);
    const Tensor lup = rounded(randn({6, 24}, 18), dt);
    const Conv2dOptions o{.stride = {2, 2}, .padding = {1, 1}};
    struct Result {
      Tensor y, gx, gw, gb, ly, lgx, lgw, lgb;
    };
    auto run = [&](Device d, DType t) {
      // A fresh leaf per run (detached first: .to may return the tensor itself).
      auto leaf = [&](const Tensor& v) { return v.detach().to(t).to(d).detach().requires_grad_(); };
      Tensor xx = leaf(x), ww = leaf(w), bb = leaf(b), lxx = leaf(lx), lww = leaf(lw),
             lbb = leaf(lb);
      Tensor y = conv2d(xx, ww, bb, o);
      Tensor ly = linear(lxx, lww, lbb);
      // The loss in float32 (its cast's backward hands y a gradient of y's dtype, exactly
      // `up`, which is rounded): the reductions are not what this test checks.
      Tensor loss = add(sum(mul(y.to(float32), up.to(d))), sum(mul(ly.to(float32), lup.to(d))));
      loss.backward();
      return Result{y, xx.grad(), ww.grad(), bb.grad(), ly, lxx.grad(), lww.grad(), lbb.grad()};
    };
    const Result ref = run(cpu, float32);
    const Result got = run(cuda, dt);
    const std::vector<std::pair<const char*, std::pair<Tensor, Tensor>>> pairs = {
        {"conv y", {got.y, ref.y}},
        {"conv grad x", {got.gx, ref.gx}},
        {"conv grad w", {got.gw, ref.gw}},
        {"conv grad b", {got.gb, ref.gb}},
        {"linear y", {got.ly, ref.ly}},
        {"linear grad x", {got.lgx, ref.lgx}},
        {"linear grad w", {got.lgw, ref.lgw}},
        {"linear grad b", {got.lgb, ref.lgb}}};
    for (const auto& [name, p] : pairs) {
      SCOPED_TRACE(name);
      ASSERT_TRUE(p.first.defined());
      EXPECT_EQ(p.first.dtype(), dt);
      EXPECT_EQ(p.first.device(), cuda);
      // Relative to the largest magnitude: sums of up to 8 * 9 * 25 products.
      EXPECT_LE(max_rel_error(p.first, p.second), dt == bfloat16 ? 2e-2 : 4e-3);
    }
  }
}

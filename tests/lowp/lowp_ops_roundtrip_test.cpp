// The float32 round trip of low-precision calls (src/ops/prepare.h: prepare, run_prepared):
// which inputs and outputs it converts, where their float32 buffers sit in the workspace, that
// the kernel's own workspace query sees float32 metas, that inputs written in place are rounded
// back, that graph mode plans the enlarged workspace; OpDef::low_precision = false errors in
// eager and graph mode; batch_norm with a low-precision x and float32 parameters.
#include <gtest/gtest.h>

#include "duet/graph.h"
#include "op_samples.h"  // test::close
#include "ops/prepare.h"
#include "test_util.h"

using namespace duet;

namespace {

std::vector<TensorMeta> like_input(const InferArgs& a) {
  return {a.inputs[0]};
}

// y = 2 x + ws[0] (ws[0] written 0.5 here), and x += 1 in place when the op says it writes x:
// float32 only (it reads data<float>), so a bfloat16 call must reach it in float32.
void twice_kernel(const KernelArgs& k) {
  EXPECT_EQ(k.inputs[0].dtype(), float32);
  EXPECT_EQ(k.outputs[0].dtype(), float32);
  ASSERT_NE(k.workspace, nullptr);
  // Real addresses even for empty tensors (fuzz_ops: max_backward memset a null output).
  EXPECT_NE(k.inputs[0].data_ptr(), nullptr);
  EXPECT_NE(k.outputs[0].data_ptr(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(k.workspace) % 64, 0u);
  EXPECT_EQ(k.workspace_size, 16u);
  float* ws = static_cast<float*>(k.workspace);
  ws[0] = 0.5f;
  float* x = const_cast<float*>(k.inputs[0].data<float>());
  float* y = k.outputs[0].data<float>();
  for (int64_t i = 0; i < k.outputs[0].numel(); ++i) y[i] = 2 * x[i] + ws[0];
  for (int64_t i = 0; i < k.inputs[0].numel(); ++i) x[i] += 1;
}
// The kernel's own scratch: asked with float32 metas.
size_t sixteen_bytes(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                     const Attrs&) {
  EXPECT_EQ(in[0].dtype, float32);
  EXPECT_EQ(out[0].dtype, float32);
  return 16;
}

OpDef twice_op(bool writes_input) {
  OpDef def;
  def.name = "test_twice";
  def.infer = like_input;
  def.kernels[static_cast<int>(DeviceType::cpu)] = twice_kernel;
  def.workspace[static_cast<int>(DeviceType::cpu)] = sixteen_bytes;
  def.mutates_inputs = writes_input ? 1u : 0u;
  return def;
}

}  // namespace

TEST(LowpRoundTrip, PrepareLaysOutFloat32BuffersFirst) {
  const OpDef op = twice_op(false);
  const Tensor x = Tensor::ones({3, 5}).to(bfloat16);  // 15 floats: 60 bytes, 64 aligned
  const std::vector<TensorMeta> out{{{3, 5}, bfloat16, cpu}};
  const PreparedCall pc = prepare(op, std::vector<Tensor>{x}, out, {}, cpu);
  EXPECT_EQ(pc.upcast, std::vector<int32_t>{0});
  EXPECT_EQ(pc.downcast, std::vector<int32_t>{0});
  EXPECT_EQ(pc.upcast_offset, std::vector<size_t>{0});
  EXPECT_EQ(pc.downcast_offset, std::vector<size_t>{64});
  EXPECT_EQ(pc.kernel_workspace_offset, 128u);
  EXPECT_EQ(pc.workspace_bytes, 128u + 16u);
  EXPECT_TRUE(round_trip(pc));
  // float32: no round trip, the kernel's bytes only.
  const PreparedCall plain = prepare(op, std::vector<Tensor>{Tensor::ones({3, 5})},
                                     std::vector<TensorMeta>{{{3, 5}, float32, cpu}}, {}, cpu);
  EXPECT_FALSE(round_trip(plain));
  EXPECT_EQ(plain.workspace_bytes, 16u);
}

TEST(LowpRoundTrip, NativeDtypeSkipsTheRoundTrip) {
  OpDef op = twice_op(false);
  op.native_low_precision[static_cast<int>(DeviceType::cpu)] = kNativeBFloat16;
  op.workspace[static_cast<int>(DeviceType::cpu)] = nullptr;  // it asks for float32 metas
  const std::vector<TensorMeta> out{{{4}, bfloat16, cpu}};
  EXPECT_FALSE(
      round_trip(prepare(op, std::vector<Tensor>{Tensor::ones({4}).to(bfloat16)}, out, {}, cpu)));
  // float16 is not native: converted.
  const std::vector<TensorMeta> out16{{{4}, float16, cpu}};
  EXPECT_TRUE(
      round_trip(prepare(op, std::vector<Tensor>{Tensor::ones({4}).to(float16)}, out16, {}, cpu)));
}

// Eager: values rounded once from the float32 result; an input written in place is rounded
// back into the caller's tensor. A strided (transposed) input needs no contiguous copy: the
// cast reads any strides.
TEST(LowpRoundTrip, EagerComputesInFloat32AndRoundsBack) {
  const OpDef op = twice_op(true);
  for (DType t : {bfloat16, float16}) {
    SCOPED_TRACE(dtype_name(t));
    const std::vector<float> v = {1.1f, -2.3f, 0.37f, 100.7f, 3.3f, -0.01f};
    Tensor x = Tensor::from_vector(v, {2, 3}).to(t);
    const std::vector<float> xr = x.to_vector<float>();  // the rounded inputs
    const std::vector<Tensor> y = call_op(op, {x});
    ASSERT_EQ(y[0].dtype(), t);
    const std::vector<float> yv = y[0].to_vector<float>(), xv = x.to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) {
      const float e = 2 * xr[i] + 0.5f;
      EXPECT_EQ(yv[i], t == bfloat16 ? float(BFloat16(e)) : float(Float16(e))) << i;
      const float w = xr[i] + 1;
      EXPECT_EQ(xv[i], t == bfloat16 ? float(BFloat16(w)) : float(Float16(w))) << i;
    }
    const PreparedCall pc = prepare(twice_op(false), std::vector<Tensor>{permute(x, {1, 0})},
                                    std::vector<TensorMeta>{{{3, 2}, t, cpu}}, {}, cpu);
    EXPECT_TRUE(pc.copies.empty());
  }
}

// Empty tensors: 64-byte float32 buffers all the same, never a null workspace.
TEST(LowpRoundTrip, EmptyTensorsGetRealBuffers) {
  const OpDef op = twice_op(false);
  for (DType t : {bfloat16, float16}) {
    const std::vector<Tensor> y = call_op(op, {Tensor::zeros({0, 3}, t)});
    EXPECT_EQ(y[0].dtype(), t);
    EXPECT_EQ(y[0].shape(), (Shape{0, 3}));
  }
  const PreparedCall pc = prepare(op, std::vector<Tensor>{Tensor::zeros({0}, bfloat16)},
                                  std::vector<TensorMeta>{{{0}, bfloat16, cpu}}, {}, cpu);
  EXPECT_EQ(pc.downcast_offset, std::vector<size_t>{64});
  EXPECT_EQ(pc.workspace_bytes, 128u + 16u);
}

// Graph mode runs the same round trip, and the planner sizes the node's workspace with it.
TEST(LowpRoundTrip, GraphPlansTheFloat32Buffers) {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}, {2, 4}).to(bfloat16);
  const Tensor eager = erf(x);
  Graph g;
  Tensor in = g.input("x", {2, 4}, bfloat16);
  Executable exe = compile(g, {erf(in)}, {.bit_exact = true});
  const Tensor y = exe.run({{"x", x}})[0];
  ASSERT_EQ(y.dtype(), bfloat16);
  EXPECT_EQ(y.to_vector<float>(), eager.to_vector<float>());
  // Two float32 copies of 8 elements, 64 bytes each.
  EXPECT_GE(exe.memory_report().workspace, 128);
}

// low_precision = false: eager and graph mode both name the op, the dtype and the input.
TEST(LowpRoundTrip, OpsWithoutLowPrecisionSayWhich) {
  const Tensor x = Tensor::ones({1, 16, 4, 4}).to(bfloat16);
  const OpDef& op = op_def(OpId::to_nchwc);
  EXPECT_DUET_ERROR(call_op(op, {x}),
                    "to_nchwc: dtype bfloat16 is not supported (input 0; this op runs in "
                    "float32/float64 only)");
  Graph g;
  Tensor in = g.input("x", {1, 16, 4, 4}, float16);
  EXPECT_DUET_ERROR(call_op(op, {in}), "to_nchwc: dtype float16 is not supported (input 0");
}

// expect_floating lists the floating dtypes the op accepts.
TEST(LowpRoundTrip, ExpectFloatingListsTheDtypes) {
  EXPECT_DUET_ERROR(relu(Tensor::ones({2}, int64)),
                    "relu: input 0 has dtype int64 (expected float32, float64, bfloat16 or "
                    "float16)");
}

// batch_norm with a bfloat16 / float16 x and float32 weight, bias and running statistics (as
// autocast keeps them): output in x's dtype, statistics and parameter gradients in float32,
// values as batch_norm on x widened to float32, rounded.
TEST(LowpRoundTrip, BatchNormLowPrecisionInputFloat32Parameters) {
  Generator gen(7);
  const Tensor x32 = Tensor::randn({4, 3, 2, 2}, gen);
  const Tensor w = Tensor::uniform({3}, 0.5, 1.5, gen), b = Tensor::randn({3}, gen);
  for (DType t : {bfloat16, float16}) {
    SCOPED_TRACE(dtype_name(t));
    const Tensor x = x32.to(t);
    const Tensor xw = x.to(float32);
    Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
    Tensor rm_ref = rm.clone(), rv_ref = rv.clone();
    Tensor wg = w.detach().requires_grad_(), bg = b.detach().requires_grad_();
    Tensor xg = x.detach().requires_grad_();
    const Tensor y = batch_norm(xg, wg, bg, rm, rv, true, 0.1, 1e-5);
    ASSERT_EQ(y.dtype(), t);
    Tensor wr = w.detach().requires_grad_(), br = b.detach().requires_grad_();
    Tensor xr = xw.detach().requires_grad_();
    const Tensor y_ref = batch_norm(xr, wr, br, rm_ref, rv_ref, true, 0.1, 1e-5);
    EXPECT_TRUE(test::close(y, y_ref.to(t), 1e-2));
    EXPECT_EQ(rm.dtype(), float32);
    EXPECT_TRUE(test::close(rm, rm_ref, 1e-6));
    EXPECT_TRUE(test::close(rv, rv_ref, 1e-6));
    sum(y).backward();
    sum(y_ref).backward();
    ASSERT_TRUE(wg.grad().defined() && bg.grad().defined() && xg.grad().defined());
    EXPECT_EQ(wg.grad().dtype(), float32);
    EXPECT_EQ(xg.grad().dtype(), t);
    EXPECT_TRUE(test::close(wg.grad(), wr.grad(), 2e-2));
    EXPECT_TRUE(test::close(bg.grad(), br.grad(), 2e-2));
    // Inference: channel_affine of x with float32 scale and shift.
    const Tensor z = batch_norm(x, w, b, rm, rv, false, 0.1, 1e-5);
    ASSERT_EQ(z.dtype(), t);
    EXPECT_TRUE(test::close(z, batch_norm(xw, w, b, rm, rv, false, 0.1, 1e-5).to(t), 1e-2));
  }
  // Anything else still needs matching dtypes.
  EXPECT_DUET_ERROR(batch_norm(x32, w.to(bfloat16), b, Tensor(), Tensor(), true, 0.1, 1e-5),
                    "batch_norm: weight has dtype bfloat16 but x has dtype float32");
}

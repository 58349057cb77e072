// The planned conv workspace on CUDA: the ops' CUDA workspace query (OpDef::workspace, filled in
// by the backend when it loads) runs
// cudnnFind for the kernel's own key and returns its algorithm's workspace; the kernel then
// finds the algorithm cached and runs in the workspace it is given (eager dispatch's block,
// the graph arena's), taking a block of its own only when none or too small a one was given.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/device_backend.h"
#include "cuda_test_util.h"
#include "duet/cuda.h"
#include "duet/duet.h"
#include "ops/op_def.h"

using namespace duet;
using namespace duet::test;

namespace {

Tensor randn_cuda(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return Tensor::randn(s, g, float32).to(cuda);
}

Attrs conv_attrs(int64_t pad) {
  Attrs a;
  a.set("stride", std::vector<int64_t>{1, 1})
      .set("padding", std::vector<int64_t>{pad, pad})
      .set("dilation", std::vector<int64_t>{1, 1})
      .set("groups", int64_t{1});
  return a;
}

std::vector<TensorMeta> metas(const std::vector<Tensor>& ts) {
  std::vector<TensorMeta> m;
  for (const Tensor& t : ts) m.push_back({t.shape(), t.dtype(), t.device()});
  return m;
}

const OpDef& op_named(const char* name) {
  const OpDef* op = find_op(name);
  EXPECT_NE(op, nullptr) << name;
  return *op;
}

// Registers the conv ops (they register on first use).
void register_conv_ops() {
  const Tensor x = Tensor::zeros({1, 1, 3, 3}), w = Tensor::zeros({1, 1, 3, 3});
  conv2d(x, w, Tensor());
  conv2d_backward_input(Tensor::zeros({1, 1, 1, 1}), w, x.shape(), {});
  conv2d_backward_weight(Tensor::zeros({1, 1, 1, 1}), x, w.shape(), {});
  conv2d_fused(x, w, Tensor::zeros({1}), Tensor(), {}, "relu");
}

// Runs `op`'s CUDA kernel directly with the given workspace; returns output 0.
Tensor run_kernel(const OpDef& op, const std::vector<Tensor>& in, const Attrs& attrs,
                  void* workspace, size_t workspace_size) {
  const std::vector<TensorMeta> out_meta = op.infer({op.name.c_str(), metas(in), attrs});
  std::vector<Tensor> out;
  for (const TensorMeta& m : out_meta) out.push_back(Tensor::empty(m.shape, m.dtype, m.device));
  KernelArgs k{attrs, in, out, workspace, workspace_size};
  op.kernels[static_cast<int>(DeviceType::cuda)](k);
  return out[0];
}

struct PassCase {
  const char* op;
  std::vector<Tensor> inputs;
  Attrs attrs;
};

// Every pass and the fused op, on shapes no other test uses (a fresh cache key each).
std::vector<PassCase> pass_cases(int64_t round) {
  const int64_t h = 23 + round;
  const Tensor x = randn_cuda({3, 6, h, 17}, 10), w = randn_cuda({10, 6, 3, 3}, 11);
  const Tensor go = randn_cuda({3, 10, h, 17}, 12), b = randn_cuda({10}, 13);
  // conv2d_fused's forward key must differ from conv2d's above: another batch size.
  const Tensor x2 = randn_cuda({2, 6, h, 17}, 14), r2 = randn_cuda({2, 10, h, 17}, 15);
  return {
      {"conv2d", {x, w}, conv_attrs(1)},
      {"conv2d_backward_input", {go, w}, conv_attrs(1).set("input_shape", x.shape())},
      {"conv2d_backward_weight", {go, x}, conv_attrs(1).set("weight_shape", w.shape())},
      {"conv2d_fused",
       {x2, w, b, r2},
       conv_attrs(1)
           .set("activation", std::string("relu"))
           .set("has_bias", true)
           .set("has_residual", true)},
  };
}

}  // namespace

// The op's CUDA workspace query (filled in by the CUDA backend when it loads).
static WorkspaceFn cuda_workspace(const OpDef& op) {
  return op.workspace[static_cast<int>(DeviceType::cuda)];
}

// The query searches (once per key); the kernel then neither searches nor allocates a
// workspace of its own when given the queried size, and does when given none.
TEST(CudaConvWorkspace, QueryFindsOnceAndKernelUsesThePlannedWorkspace) {
  DUET_REQUIRE_CUDA();
  register_conv_ops();
  static int64_t round = 0;  // fresh shapes on every run (--gtest_repeat)
  for (const PassCase& c : pass_cases(round++)) {
    SCOPED_TRACE(c.op);
    const OpDef& op = op_named(c.op);
    ASSERT_NE(cuda_workspace(op), nullptr);
    const std::vector<TensorMeta> in = metas(c.inputs);
    const std::vector<TensorMeta> out = op.infer({c.op, in, c.attrs});
    const int64_t finds0 = detail::cuda_conv_find_count();
    const size_t ws = cuda_workspace(op)(in, out, c.attrs);
    EXPECT_EQ(detail::cuda_conv_find_count() - finds0, 1) << "the query runs cudnnFind";
    EXPECT_EQ(cuda_workspace(op)(in, out, c.attrs), ws) << "a second query is cached";
    EXPECT_EQ(detail::cuda_conv_find_count() - finds0, 1);

    // Given the queried workspace: no search, no workspace of its own.
    const Tensor planned = Tensor::empty({static_cast<int64_t>(ws / 4) + 1}, float32, cuda);
    const int64_t own0 = detail::cuda_conv_own_workspace_count();
    const Tensor y1 = run_kernel(op, c.inputs, c.attrs, ws ? planned.data_ptr() : nullptr, ws);
    EXPECT_EQ(detail::cuda_conv_own_workspace_count(), own0);
    EXPECT_EQ(detail::cuda_conv_find_count() - finds0, 1) << "the kernel found it cached";

    // Given none: it takes its own exactly when the algorithm needs one; same result.
    const Tensor y2 = run_kernel(op, c.inputs, c.attrs, nullptr, 0);
    EXPECT_EQ(detail::cuda_conv_own_workspace_count() - own0, ws > 0 ? 1 : 0);
    // Same algorithm, but cuDNN's split-reduction algorithms need not be bit-reproducible.
    EXPECT_LE(max_rel_error(y2.to(cpu), y1.to(cpu)), 1e-5);

    // Eager dispatch passes the queried workspace too.
    const int64_t own1 = detail::cuda_conv_own_workspace_count();
    call_op(op, c.inputs, c.attrs);
    EXPECT_EQ(detail::cuda_conv_own_workspace_count(), own1);
    EXPECT_EQ(detail::cuda_conv_find_count() - finds0, 1);
  }
}

// A fused conv's workspace covers the plain conv's algorithm too (a fusion cuDNN refuses
// falls back to it).
TEST(CudaConvWorkspace, FusedQueryCoversThePlainConv) {
  DUET_REQUIRE_CUDA();
  register_conv_ops();
  const std::vector<PassCase> cases = pass_cases(1000);
  const PassCase& plain = cases[0];
  const PassCase& fused = cases[3];
  const OpDef& conv = op_named("conv2d");
  const OpDef& fop = op_named("conv2d_fused");
  const std::vector<TensorMeta> pin = metas(plain.inputs), fin = metas(fused.inputs);
  const size_t p = cuda_workspace(conv)(pin, conv.infer({"conv2d", pin, plain.attrs}), plain.attrs);
  const size_t f =
      cuda_workspace(fop)(fin, fop.infer({"conv2d_fused", fin, fused.attrs}), fused.attrs);
  EXPECT_GE(f, p);
}

// Empty tensors: the kernels zero-fill without cuDNN, so the query neither searches nor asks.
TEST(CudaConvWorkspace, EmptyBatchNeedsNone) {
  DUET_REQUIRE_CUDA();
  register_conv_ops();
  const OpDef& conv = op_named("conv2d");
  const std::vector<TensorMeta> in{{{0, 3, 5, 5}, float32, cuda}, {{4, 3, 3, 3}, float32, cuda}};
  const Attrs a = conv_attrs(1);
  const int64_t finds0 = detail::cuda_conv_find_count();
  EXPECT_EQ(cuda_workspace(conv)(in, conv.infer({"conv2d", in, a}), a), 0u);
  EXPECT_EQ(detail::cuda_conv_find_count(), finds0);
}

// Steady state: repeated eager convs (forward, both backward passes, fused) make no cudaMalloc
// and take no workspace of their own.
TEST(CudaConvWorkspace, SteadyStateEagerMakesNoDeviceMalloc) {
  DUET_REQUIRE_CUDA();
  const Tensor x = randn_cuda({4, 8, 20, 20}, 20).requires_grad_();
  const Tensor w = randn_cuda({8, 8, 3, 3}, 21).requires_grad_();
  const Tensor b = randn_cuda({8}, 22).requires_grad_();
  auto step = [&] {
    Tensor y = conv2d_fused(x, w, b, Tensor(), {.padding = {1, 1}}, "relu");
    sum(y).backward();
  };
  step();
  step();
  synchronize(cuda);
  const int64_t mallocs = memory_stats(cuda).num_device_mallocs;
  const int64_t own = detail::cuda_conv_own_workspace_count();
  for (int i = 0; i < 3; ++i) step();
  synchronize(cuda);
  EXPECT_EQ(memory_stats(cuda).num_device_mallocs, mallocs);
  EXPECT_EQ(detail::cuda_conv_own_workspace_count(), own);
}

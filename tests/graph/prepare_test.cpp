// prepare() (src/ops/prepare.h): the one kernel-call preparation that eager dispatch, the
// planner and the executor share: kernel, contiguous copies, workspace bytes, and the errors.
#include <source_location>

#include "duet/graph.h"
#include "graph/executable.h"
#include "ops/prepare.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

std::vector<TensorMeta> like_input(const InferArgs& a) {
  return {a.inputs[0]};
}
void copy_kernel(const KernelArgs& k) {
  const float* in = k.inputs[0].data<float>();
  float* out = k.outputs[0].data<float>();
  for (int64_t i = 0; i < k.outputs[0].numel(); ++i) out[i] = in[i];
}
size_t four_bytes_per_element(std::span<const TensorMeta> in, std::span<const TensorMeta>,
                              const Attrs&) {
  return static_cast<size_t>(numel(in[0].shape)) * 4;
}

// A test op: one input, output like it, a CPU kernel (unless `with_kernel` is false).
OpDef test_op(const char* name, bool with_kernel) {
  OpDef def;
  def.name = name;
  def.infer = like_input;
  if (with_kernel) def.kernels[static_cast<int>(DeviceType::cpu)] = copy_kernel;
  return def;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Prepare, KernelCopiesAndWorkspace) {
  OpDef op = test_op("test_copy", true);
  op.workspace[static_cast<int>(DeviceType::cpu)] = four_bytes_per_element;
  Tensor x = Tensor::zeros({3, 4});
  Tensor xt = permute(x, {1, 0});  // (4, 3), not contiguous
  const std::vector<TensorMeta> out{{{4, 3}, float32, cpu}};

  PreparedCall pc = prepare(op, std::vector<Tensor>{xt}, out, {}, cpu);
  EXPECT_EQ(pc.kernel, &copy_kernel);
  EXPECT_EQ(pc.copies, std::vector<int32_t>{0});
  EXPECT_EQ(pc.workspace_bytes, 12u * 4);

  pc = prepare(op, std::vector<Tensor>{x}, out, {}, cpu);
  EXPECT_TRUE(pc.copies.empty());  // contiguous: read in place

  op.strided_inputs = true;  // the kernel reads strides itself: nothing to copy
  EXPECT_TRUE(prepare(op, std::vector<Tensor>{xt}, out, {}, cpu).copies.empty());

  // A view op runs no kernel.
  const OpDef& view = *find_op("permute");
  Attrs axes;
  axes.set("axes", std::vector<int64_t>{1, 0});
  pc = prepare(view, std::vector<Tensor>{x}, out, axes, cpu);
  EXPECT_EQ(pc.kernel, nullptr);
  EXPECT_TRUE(pc.copies.empty());
  EXPECT_EQ(pc.workspace_bytes, 0u);
}

TEST(Prepare, AnInputWrittenInPlaceMustBeContiguous) {
  OpDef op = test_op("test_write", true);
  op.mutates_inputs = 1;
  Tensor xt = permute(Tensor::zeros({3, 4}), {1, 0});
  const std::vector<TensorMeta> out{{{4, 3}, float32, cpu}};
  EXPECT_EQ(error_of([&] { prepare(op, std::vector<Tensor>{xt}, out, {}, cpu); }),
            "test_write: input 0 is written in place and must be contiguous");
}

// "No kernel" names the op in eager mode, and the node and its source line in graph mode.
TEST(Prepare, NoKernelNamesTheOpAndTheNode) {
  OpDef op = test_op("test_nokernel", false);
  Tensor x = Tensor::ones({2, 2});
  EXPECT_EQ(error_of([&] { call_op(op, {x}); }), "test_nokernel: no kernel for device cpu");

  Graph g;
  Tensor in = g.input("x", {2, 2});
  Tensor y;
  unsigned line = 0;
  {
    const std::source_location here = std::source_location::current();
    LocationScope scope(here);
    line = here.line();
    y = call_op1(op, {exp(in)});
  }
  const std::string err = error_of([&] { compile(g, {y}); });
  EXPECT_EQ(
      err, detail::cat(
               "test_nokernel: no kernel for device cpu (node %2 at prepare_test.cpp:", line, ")"));
}

// The graph runs the prepared call: a non-contiguous value is copied into a staging buffer,
// as eager mode copies it.
TEST(Prepare, GraphStagesWhatEagerCopies) {
  OpDef op = test_op("test_copy", true);
  Generator gen(4);
  Tensor xv = Tensor::randn({3, 4}, gen);
  Graph g;
  Tensor y = call_op1(op, {permute(exp(g.input("x", {3, 4})), {1, 0})});
  Executable exe = compile(g, {y});
  const detail::MemoryPlan& plan = exe.impl()->plan;
  const int32_t node = static_cast<int32_t>(exe.impl()->graph->nodes.size()) - 1;
  EXPECT_EQ(plan.calls[node].copies, std::vector<int32_t>{0});
  EXPECT_EQ(plan.staging[node].size(), 1u);
  expect_close(exe.run({{"x", xv}})[0], call_op1(op, {permute(exp(xv), {1, 0})}), 0, 0);
}

// An input the kernel writes in place must be contiguous in both modes (a staging copy would
// take the write): eager mode and compile say so the same way.
TEST(Prepare, WrittenInputMustBeContiguousInBothModes) {
  Tensor buf = Tensor::zeros({2, 3});
  Tensor stat = Tensor::ones({3, 2});
  NoGradGuard ng;
  EXPECT_EQ(error_of([&] {
              running_stat_update_(permute(buf, {1, 0}), stat, 0.5);
            }),
            "running_stat_update_: input 0 is written in place and must be contiguous");
  Graph g;
  Tensor x = g.input("x", {3, 2});
  running_stat_update_(permute(buf, {1, 0}), x, 0.5);
  Tensor y = sum(x);
  const std::string err = error_of([&] { compile(g, {y}); });
  EXPECT_NE(err.find("running_stat_update_: input 0 is written in place and must be contiguous "
                     "(node %"),
            std::string::npos)
      << err;
}

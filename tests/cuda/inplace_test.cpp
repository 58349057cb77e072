// The graph planner may write output 0 of an op over its input `inplace_input` (OpDef) when
// that input dies there. Every CUDA kernel of such an op must give the same result when
// outputs[0] aliases that input: each case runs the kernel once into fresh outputs and once
// with output 0 on (a copy of) the input, and compares bit for bit. A last test checks that
// every op with an inplace_input and a CUDA kernel has a case here.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "duet/cuda.h"
#include "duet/duet.h"
#include "ops/op_def.h"

using namespace duet;
using namespace duet::test;

namespace {

struct AliasCase {
  std::string op;
  std::vector<Tensor> inputs;  // on the GPU
  Attrs attrs;
};

Tensor normal(const Shape& s, uint64_t seed, DType dt = float32) {
  Generator g(seed);
  return Tensor::randn(s, g, dt).to(cuda);
}
Tensor positive(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return Tensor::uniform(s, 0.5, 2.0, g).to(cuda);
}

// Registers every op the cases use (ops register on first use), by a tiny CPU run of each
// public function and of the backward passes that call the backward ops.
void register_ops() {
  const Tensor x = Tensor::ones({2, 3}).requires_grad_();
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 2}, {2}, int64);
  std::vector<Tensor> ys{relu(x),
                         relu6(x),
                         leaky_relu(x, 0.1),
                         sigmoid(x),
                         tanh(x),
                         silu(x),
                         hardsigmoid(x),
                         hardswish(x),
                         gelu(x, false),
                         neg(x),
                         exp(x),
                         log(x),
                         sqrt(x),
                         rsqrt(x),
                         abs(x),
                         add(x, 1.0),
                         mul(x, 2.0),
                         rsub(x, 1.0),
                         rdiv(x, 1.0),
                         pow(x, 2.0),
                         clamp(x, 0, 1),
                         add(x, x),
                         sub(x, x),
                         mul(x, x),
                         div(x, x),
                         maximum(x, x),
                         minimum(x, x),
                         add_relu(x, x),
                         softmax(x, 1),
                         log_softmax(x, 1),
                         cross_entropy(x, labels),
                         dropout(x, 0.5, true)};
  Tensor total = Tensor::zeros({});
  for (const Tensor& y : ys) total = add(total, sum(y));
  total.backward();  // the activations' and clamp's backward ops, softmax's, cross entropy's
  channel_affine(Tensor::ones({1, 2, 2}), Tensor::ones({2}), Tensor::ones({2}));
  sign(x);
}

// Every case: shapes odd enough that grid-stride loops wrap and softmax rows span several
// warps.
std::vector<AliasCase> cases() {
  const Shape s{3, 5, 67};
  const Tensor a = normal(s, 1), b = normal(s, 2), p = positive(s, 3);
  std::vector<AliasCase> c;
  for (const char* op : {"relu", "relu6", "sigmoid", "tanh", "silu", "hardsigmoid", "hardswish"})
    c.push_back({op, {a}, {}});
  c.push_back({"leaky_relu", {a}, Attrs().set("negative_slope", 0.1)});
  for (bool t : {false, true}) c.push_back({"gelu", {a}, Attrs().set("tanh_approximation", t)});
  for (const char* op : {"relu_backward", "relu6_backward", "sigmoid_backward", "tanh_backward",
                         "silu_backward", "hardsigmoid_backward", "hardswish_backward"})
    c.push_back({op, {b, a}, {}});
  c.push_back({"leaky_relu_backward", {b, a}, Attrs().set("negative_slope", 0.1)});
  for (bool t : {false, true})
    c.push_back({"gelu_backward", {b, a}, Attrs().set("tanh_approximation", t)});
  for (const char* op : {"neg", "exp", "abs", "sign"}) c.push_back({op, {a}, {}});
  for (const char* op : {"log", "sqrt", "rsqrt"}) c.push_back({op, {p}, {}});
  for (const char* op : {"add_scalar", "mul_scalar", "rsub_scalar", "rdiv_scalar"})
    c.push_back({op, {p}, Attrs().set("value", 1.5)});
  c.push_back({"pow", {p}, Attrs().set("exponent", 2.5)});
  c.push_back({"clamp", {a}, Attrs().set("lo", -0.5).set("hi", 0.5)});
  c.push_back({"clamp_backward", {b, a}, Attrs().set("lo", -0.5).set("hi", 0.5)});
  for (const char* op : {"add", "sub", "mul", "div", "maximum", "minimum"}) {
    c.push_back({op, {a, p}, {}});
    c.push_back({op, {a, normal({67}, 4)}, {}});  // b broadcast along the rows
  }
  c.push_back({"add_relu", {a, b}, {}});
  for (int64_t axis : {0, 1, 2}) {
    const Attrs ax = Attrs().set("axis", axis);
    c.push_back({"softmax", {a}, ax});
    c.push_back({"softmax_backward", {b, a}, ax});
    c.push_back({"log_softmax_backward", {b, normal(s, 5)}, ax});
  }
  // Rows longer than a block, so a row's reduction spans the whole block.
  const Tensor wide = normal({4, 3000}, 6);
  c.push_back({"softmax", {wide}, Attrs().set("axis", int64_t{1})});
  c.push_back({"softmax_backward", {normal({4, 3000}, 7), wide}, Attrs().set("axis", int64_t{1})});
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 66, 3, 7, 1}, {5}, int64);
  for (double eps : {0.0, 0.1})
    c.push_back({"cross_entropy_backward",
                 {Tensor::scalar(2.0).to(cuda), normal({5, 67}, 8), labels.to(cuda)},
                 Attrs().set("label_smoothing", eps)});
  c.push_back({"channel_affine", {a, normal({5}, 9), normal({5}, 10)}, {}});
  c.push_back({"dropout", {a}, Attrs().set("p", 0.3).set("seed", int64_t{1234})});
  return c;
}

std::vector<TensorMeta> metas(const std::vector<Tensor>& ts) {
  std::vector<TensorMeta> m;
  for (const Tensor& t : ts) m.push_back({t.shape(), t.dtype(), t.device()});
  return m;
}

bool same_bits(const Tensor& x, const Tensor& y) {
  const Tensor a = x.to(cpu), b = y.to(cpu);
  const size_t n = static_cast<size_t>(a.numel()) * dtype_size(a.dtype());
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.data_ptr(), b.data_ptr(), n) == 0;
}

// Output 0 written over input `inplace_input` equals the non-aliased result, bit for bit.
void expect_alias_safe(const AliasCase& c) {
  SCOPED_TRACE(c.op);
  const OpDef* op = find_op(c.op);
  ASSERT_NE(op, nullptr);
  const int k = op->inplace_input;
  ASSERT_GE(k, 0);
  const KernelFn kernel = op->kernels[static_cast<int>(DeviceType::cuda)];
  ASSERT_NE(kernel, nullptr);
  const std::vector<TensorMeta> out_meta = op->infer({c.op.c_str(), metas(c.inputs), c.attrs});
  ASSERT_EQ(out_meta[0].shape, c.inputs[k].shape());
  ASSERT_EQ(out_meta[0].dtype, c.inputs[k].dtype());
  auto fresh = [&] {
    std::vector<Tensor> out;
    for (const TensorMeta& m : out_meta) out.push_back(Tensor::empty(m.shape, m.dtype, m.device));
    return out;
  };
  std::vector<Tensor> ref = fresh();
  kernel({c.attrs, c.inputs, ref});

  std::vector<Tensor> in = c.inputs;
  in[k] = c.inputs[k].clone();  // the buffer the output is written over
  std::vector<Tensor> out = fresh();
  out[0] = in[k];
  kernel({c.attrs, in, out});
  for (size_t j = 0; j < out.size(); ++j) EXPECT_TRUE(same_bits(out[j], ref[j])) << "output " << j;
}

}  // namespace

TEST(CudaInplace, OutputOverInputMatchesSeparateOutput) {
  DUET_REQUIRE_CUDA();
  register_ops();
  for (const AliasCase& c : cases()) expect_alias_safe(c);
}

TEST(CudaInplace, EveryInplaceOpHasACase) {
  DUET_REQUIRE_CUDA();
  register_ops();
  std::set<std::string> covered;
  for (const AliasCase& c : cases()) covered.insert(c.op);
  for (const OpDef* op : registered_ops()) {
    if (op->inplace_input < 0 || !op->kernels[static_cast<int>(DeviceType::cuda)]) continue;
    EXPECT_TRUE(covered.count(op->name)) << op->name << " may run in place but has no case here";
  }
}

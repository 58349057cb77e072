// CUDA elementwise ops against the CPU, forward and backward (label cuda; skipped without a
// device): unary math and scalar ops, broadcasting binary ops, comparisons, where, every
// activation and its backward op, add_relu. float32 and float64, scalar-shaped, empty and
// non-contiguous inputs.
#include <functional>
#include <string>
#include <vector>

#include "cuda_test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// float32: a few ulp of CUDA's math functions; float64: likewise for double.
double tol(DType dt) {
  return dt == float64 ? 1e-12 : 1e-5;
}

struct Unary {
  std::string name;
  std::function<Tensor(const Tensor&)> f;
  double lo, hi;  // input range (inside the op's domain, away from kinks)
};

std::vector<Unary> unary_ops() {
  return {
      {"neg", [](const Tensor& x) { return neg(x); }, -2, 2},
      {"exp", [](const Tensor& x) { return duet::exp(x); }, -3, 3},
      {"log", [](const Tensor& x) { return duet::log(x); }, 0.1, 5},
      {"sqrt", [](const Tensor& x) { return duet::sqrt(x); }, 0.1, 5},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, 0.1, 5},
      {"abs", [](const Tensor& x) { return duet::abs(x); }, -2, 2},
      {"sign", [](const Tensor& x) { return sign(x); }, -2, 2},
      {"add_scalar", [](const Tensor& x) { return add(x, 1.5); }, -2, 2},
      {"sub_scalar", [](const Tensor& x) { return sub(x, 0.25); }, -2, 2},
      {"mul_scalar", [](const Tensor& x) { return mul(x, -3.0); }, -2, 2},
      {"div_scalar", [](const Tensor& x) { return div(x, 7.0); }, -2, 2},
      {"rsub_scalar", [](const Tensor& x) { return rsub(x, 2.0); }, -2, 2},
      {"rdiv_scalar", [](const Tensor& x) { return rdiv(x, 3.0); }, 0.5, 3},
      {"pow_2", [](const Tensor& x) { return duet::pow(x, 2.0); }, -2, 2},
      {"pow_1", [](const Tensor& x) { return duet::pow(x, 1.0); }, -2, 2},
      {"pow_3", [](const Tensor& x) { return duet::pow(x, 3.0); }, -2, 2},
      {"pow_0.5", [](const Tensor& x) { return duet::pow(x, 0.5); }, 0.1, 4},
      {"pow_-1.5", [](const Tensor& x) { return duet::pow(x, -1.5); }, 0.2, 4},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.7); }, -2, 2},
  };
}

std::vector<Unary> activations() {
  return {
      {"relu", [](const Tensor& x) { return relu(x); }, -8, 8},
      {"relu6", [](const Tensor& x) { return relu6(x); }, -8, 8},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.2); }, -8, 8},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, -8, 8},
      {"tanh", [](const Tensor& x) { return duet::tanh(x); }, -5, 5},
      {"silu", [](const Tensor& x) { return silu(x); }, -8, 8},
      {"hardsigmoid", [](const Tensor& x) { return hardsigmoid(x); }, -8, 8},
      {"hardswish", [](const Tensor& x) { return hardswish(x); }, -8, 8},
      {"gelu", [](const Tensor& x) { return gelu(x); }, -6, 6},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, true); }, -6, 6},
  };
}

OpFn one(const std::function<Tensor(const Tensor&)>& f) {
  return [f](const std::vector<Tensor>& in) { return std::vector<Tensor>{f(in[0])}; };
}
OpFn two(const std::function<Tensor(const Tensor&, const Tensor&)>& f) {
  return [f](const std::vector<Tensor>& in) { return std::vector<Tensor>{f(in[0], in[1])}; };
}

using BinFn = std::function<Tensor(const Tensor&, const Tensor&)>;
struct Binary {
  std::string name;
  BinFn f;
};
std::vector<Binary> binary_ops() {
  return {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
  };
}
std::vector<Binary> comparisons() {
  return {
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }},
  };
}

// Shape pairs for the binary ops: equal, broadcast both ways, scalar-shaped, empty.
const std::vector<std::pair<Shape, Shape>> kBinaryShapes = {
    {{4, 5}, {4, 5}}, {{4, 1, 5}, {3, 1}},    {{2, 3, 4}, {}},          {{}, {3}},
    {{3, 1}, {1, 4}}, {{5}, {2, 3, 5}},       {{2, 3, 4}, {3, 1}},      {{}, {}},
    {{0, 3}, {1, 3}}, {{2, 1, 3}, {2, 0, 1}}, {{1000, 37}, {1000, 37}},  // more than one block
};

}  // namespace

TEST(CudaElementwise, UnaryMatchesCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    for (const Unary& u : unary_ops()) {
      for (const Shape& s : std::vector<Shape>{{3, 7}, {}, {0, 4}, {4099}}) {
        expect_cuda_matches_cpu(u.name + " " + dtype_name(dt) + " " + shape_str(s), one(u.f),
                                {uniform_leaf(s, 11, dt, u.lo, u.hi)}, tol(dt));
      }
    }
  }
}

TEST(CudaElementwise, ClampBackwardMatchesCpu) {
  DUET_REQUIRE_CUDA();
  // clamp's gradient is the clamp_backward op (grad, x), here behind a product.
  for (DType dt : {float32, float64}) {
    auto f = [](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{clamp(mul(in[0], in[1]), -0.3, 0.4)};
    };
    expect_cuda_matches_cpu(
        std::string("clamp(x * y) ") + dtype_name(dt), f,
        {uniform_leaf({6, 5}, 3, dt, -1, 1), uniform_leaf({6, 5}, 4, dt, -1, 1)}, tol(dt));
  }
}

TEST(CudaElementwise, BinaryBroadcastMatchesCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    for (const Binary& op : binary_ops()) {
      for (const auto& [sa, sb] : kBinaryShapes) {
        // b in [0.5, 2): away from 0 for div; distinct values make maximum/minimum tie-free.
        expect_cuda_matches_cpu(
            op.name + " " + dtype_name(dt) + " " + shape_str(sa) + " " + shape_str(sb), two(op.f),
            {uniform_leaf(sa, 21, dt, -2, 2), uniform_leaf(sb, 22, dt, 0.5, 2)}, tol(dt));
      }
    }
  }
}

TEST(CudaElementwise, MaximumMinimumTiesMatchCpu) {
  DUET_REQUIRE_CUDA();
  // Equal elements split the gradient evenly (the rule uses eq, gt, lt and cast).
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, float64).requires_grad_();
  Tensor b = Tensor::from_vector({1, 0, 3, 9, 5, -1}, {2, 3}, float64).requires_grad_();
  for (const Binary& op : binary_ops()) {
    if (op.name != "maximum" && op.name != "minimum") continue;
    expect_cuda_matches_cpu(op.name + " ties", two(op.f), {a, b}, 1e-12);
  }
}

TEST(CudaElementwise, BinaryInt64MatchesCpu) {
  DUET_REQUIRE_CUDA();
  Tensor a = Tensor::from_vector<int64_t>({7, -8, 9, 10, -11, 12}, {2, 3});
  Tensor b = Tensor::from_vector<int64_t>({2, 3, -4}, {3});
  for (const Binary& op : binary_ops())
    expect_cuda_matches_cpu(op.name + " int64", two(op.f), {a, b}, 0);
  for (const Binary& op : comparisons())
    expect_cuda_matches_cpu(op.name + " int64", two(op.f), {a, b}, 0);
}

TEST(CudaElementwise, ComparisonsMatchCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    // Small integers: plenty of equal pairs.
    Tensor a = Tensor::from_vector({1, 2, 3, 1, 2, 3, 0, -1}, {2, 1, 4}, dt);
    Tensor b = Tensor::from_vector({1, 3, 2, 3, 0, 3, 2, 2, 1, -1, 0, 1}, {3, 4}, dt);
    for (const Binary& op : comparisons()) {
      expect_cuda_matches_cpu(op.name + " " + dtype_name(dt), two(op.f), {a, b}, 0);
      expect_cuda_matches_cpu(op.name + " scalar " + dtype_name(dt), two(op.f),
                              {a, Tensor::full({}, 2.0, dt)}, 0);
    }
  }
  // bool inputs
  Tensor p = gt(Tensor::from_vector({1, -1, 2, -2}, {4}), Tensor::zeros({}));
  Tensor q = gt(Tensor::from_vector({1, 1, -2, -2}, {4}), Tensor::zeros({}));
  for (const Binary& op : comparisons())
    expect_cuda_matches_cpu(op.name + " bool", two(op.f), {p, q}, 0);
}

TEST(CudaElementwise, WhereMatchesCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    Generator g(5);
    Tensor c = gt(Tensor::randn({4, 1, 5}, g), Tensor::zeros({}));
    Tensor a = uniform_leaf({3, 1}, 6, dt, -1, 1);
    Tensor b = uniform_leaf({}, 7, dt, -1, 1);
    auto f = [](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{where(in[0], in[1], in[2])};
    };
    expect_cuda_matches_cpu(std::string("where broadcast ") + dtype_name(dt), f, {c, a, b},
                            tol(dt));
    Tensor c2 = gt(Tensor::randn({6, 7}, g), Tensor::zeros({}));
    expect_cuda_matches_cpu(
        std::string("where same shape ") + dtype_name(dt), f,
        {c2, uniform_leaf({6, 7}, 8, dt, -1, 1), uniform_leaf({6, 7}, 9, dt, -1, 1)}, tol(dt));
  }
  // int64 and bool values
  Tensor c = gt(Tensor::from_vector({1, -1, 2}, {3}), Tensor::zeros({}));
  auto f = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{where(in[0], in[1], in[2])};
  };
  expect_cuda_matches_cpu(
      "where int64", f,
      {c, Tensor::from_vector<int64_t>({1, 2, 3}, {3}), Tensor::from_vector<int64_t>({-4}, {1})},
      0);
  expect_cuda_matches_cpu("where bool", f, {c, c, gt(Tensor::ones({1}), Tensor::zeros({}))}, 0);
}

TEST(CudaElementwise, NonContiguousInputs) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    // transpose then add / mul / exp / relu: the dispatcher copies the views to contiguous
    // ones on the device; the gradients flow back through the transposes.
    auto f = [](const std::vector<Tensor>& in) {
      Tensor at = in[0].transpose(0, 1);                // (5, 4)
      Tensor bs = in[1].slice(1, 0, 10, 2);             // (5, 5) every other column
      Tensor s = add(at, mul(bs.slice(1, 0, 4), 2.0));  // (5, 4)
      return std::vector<Tensor>{add(relu(s), duet::exp(in[0].transpose(0, 1)))};
    };
    expect_cuda_matches_cpu(
        std::string("transpose/slice ") + dtype_name(dt), f,
        {uniform_leaf({4, 5}, 31, dt, -1, 1), uniform_leaf({5, 10}, 32, dt, -1, 1)}, tol(dt));
    auto g = [](const std::vector<Tensor>& in) {  // broadcast against a permuted operand
      return std::vector<Tensor>{mul(in[0].permute({2, 0, 1}), in[1])};
    };
    expect_cuda_matches_cpu(
        std::string("permute * broadcast ") + dtype_name(dt), g,
        {uniform_leaf({3, 4, 5}, 33, dt, -1, 1), uniform_leaf({3, 1}, 34, dt, -1, 1)}, tol(dt));
  }
}

TEST(CudaActivation, ForwardAndBackwardMatchCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    for (const Unary& a : activations()) {
      for (const Shape& s : std::vector<Shape>{{8, 33}, {}, {0}, {3, 4099}}) {
        expect_cuda_matches_cpu(a.name + " " + dtype_name(dt) + " " + shape_str(s), one(a.f),
                                {uniform_leaf(s, 41, dt, a.lo, a.hi)}, tol(dt));
      }
    }
  }
}

TEST(CudaActivation, BackwardOpsAndTheirGradientsMatchCpu) {
  DUET_REQUIRE_CUDA();
  // Each backward op on (grad, saved) with both requiring grad: its forward is the backward
  // kernel, its gradient uses the backward kernel again (and, for the smooth ones, the second
  // derivative built from public ops).
  using F = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<std::pair<std::string, F>> ops = {
      {"relu_backward", [](const Tensor& g, const Tensor& s) { return relu_backward(g, s); }},
      {"relu6_backward", [](const Tensor& g, const Tensor& s) { return relu6_backward(g, s); }},
      {"leaky_relu_backward",
       [](const Tensor& g, const Tensor& s) { return leaky_relu_backward(g, s, 0.1); }},
      {"sigmoid_backward", [](const Tensor& g, const Tensor& s) { return sigmoid_backward(g, s); }},
      {"tanh_backward", [](const Tensor& g, const Tensor& s) { return tanh_backward(g, s); }},
      {"silu_backward", [](const Tensor& g, const Tensor& s) { return silu_backward(g, s); }},
      {"hardsigmoid_backward",
       [](const Tensor& g, const Tensor& s) { return hardsigmoid_backward(g, s); }},
      {"hardswish_backward",
       [](const Tensor& g, const Tensor& s) { return hardswish_backward(g, s); }},
      {"gelu_backward", [](const Tensor& g, const Tensor& s) { return gelu_backward(g, s); }},
      {"gelu_backward_tanh",
       [](const Tensor& g, const Tensor& s) { return gelu_backward(g, s, true); }},
  };
  for (DType dt : {float32, float64}) {
    for (const auto& [name, f] : ops) {
      // saved values in (-7, 7): covers 0..6 for the y-based ones and -3..3 for the x-based.
      expect_cuda_matches_cpu(
          name + " " + dtype_name(dt), two(f),
          {uniform_leaf({7, 9}, 51, dt, -1, 1), uniform_leaf({7, 9}, 52, dt, -7, 7)}, tol(dt));
    }
  }
}

TEST(CudaFused, AddReluMatchesCpuAndUnfusedBits) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    for (const Shape& s : std::vector<Shape>{{4, 6}, {}, {0, 2}, {2, 3, 4099}}) {
      expect_cuda_matches_cpu(std::string("add_relu ") + dtype_name(dt) + " " + shape_str(s),
                              two([](const Tensor& a, const Tensor& b) { return add_relu(a, b); }),
                              {uniform_leaf(s, 61, dt, -1, 1), uniform_leaf(s, 62, dt, -1, 1)},
                              tol(dt));
    }
    Tensor a = uniform_leaf({5, 7}, 63, dt, -1, 1).detach().to(cuda);
    Tensor b = uniform_leaf({5, 7}, 64, dt, -1, 1).detach().to(cuda);
    EXPECT_EQ(max_rel_error(add_relu(a, b), relu(add(a, b))), 0.0) << dtype_name(dt);
  }
}

// Eager == graph for every op: forward values and gradients (graph autodiff vs the tape),
// bit for bit, on float64 inputs.
#include "duet/graph.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

struct Case {
  const char* name;
  std::vector<Shape> shapes;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  double lo = -1, hi = 1;
};

void check_case(const Case& c) {
  SCOPED_TRACE(c.name);
  std::vector<Tensor> xs;
  for (size_t i = 0; i < c.shapes.size(); ++i)
    xs.push_back(rand64(c.shapes[i], 100 + i, c.lo, c.hi));
  // Eager: forward, then the tape with a fixed output gradient.
  Tensor y = c.fn(xs);
  Generator gen(7);
  Tensor gy = Tensor::uniform(y.shape(), -1, 1, gen, y.dtype());
  y.backward(gy);
  // Graph: the same function traced, gradients by graph autodiff of <y, gy>.
  Graph g({.training = true});
  std::vector<Tensor> ins;
  for (size_t i = 0; i < c.shapes.size(); ++i)
    ins.push_back(g.input("x" + std::to_string(i), c.shapes[i], float64));
  Tensor ys = c.fn(ins);
  Tensor objective = sum(mul(ys, gy));
  std::vector<Tensor> grads = gradients(objective, ins);
  std::vector<Tensor> outs{ys};
  for (const Tensor& t : grads) outs.push_back(t);
  Executable exe = compile(g, outs, {.training = true, .bit_exact = true});
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < xs.size(); ++i) feeds["x" + std::to_string(i)] = xs[i].detach();
  std::vector<Tensor> r = exe.run(feeds);
  expect_close(r[0], y.detach(), 0, 0);
  for (size_t i = 0; i < xs.size(); ++i) {
    SCOPED_TRACE("gradient of input " + std::to_string(i));
    // The graph's seed gradient is sum's backward (an expand), the tape's is gy directly:
    // the same numbers, so the gradients agree to the last bits or very nearly.
    expect_close(r[1 + i], xs[i].grad(), 1e-12, 1e-14);
  }
}

}  // namespace

TEST(OpEquivalence, EagerAndGraphAgreeForEveryOp) {
  const Conv2dOptions same{.padding = {1, 1}};
  const Pool2dOptions pool{.kernel = {2, 2}};
  std::vector<Case> cases = {
      {"add", {{2, 3}, {3}}, [](auto& x) { return add(x[0], x[1]); }},
      {"sub", {{2, 3}, {2, 1}}, [](auto& x) { return sub(x[0], x[1]); }},
      {"mul", {{2, 3}, {2, 3}}, [](auto& x) { return mul(x[0], x[1]); }},
      {"div", {{2, 3}, {3}}, [](auto& x) { return div(x[0], add(abs(x[1]), 1.0)); }},
      {"maximum", {{2, 3}, {2, 3}}, [](auto& x) { return maximum(x[0], x[1]); }},
      {"minimum", {{2, 3}, {2, 3}}, [](auto& x) { return minimum(x[0], x[1]); }},
      {"scalars", {{4}}, [](auto& x) { return (2.0 - x[0]) * 3.0 / 2.0 + 1.0; }},
      {"neg exp", {{4}}, [](auto& x) { return exp(neg(x[0])); }},
      {"log sqrt rsqrt",
       {{4}},
       [](auto& x) { return log(x[0]) + sqrt(x[0]) + rsqrt(x[0]); },
       0.5,
       2.0},
      {"pow abs", {{5}}, [](auto& x) { return pow(abs(x[0]), 1.5); }},
      {"clamp", {{6}}, [](auto& x) { return clamp(x[0], -0.3, 0.4); }},
      {"where", {{2, 3}, {2, 3}}, [](auto& x) { return where(gt(x[0], 0.0), x[0], x[1]); }},
      {"relu relu6 leaky",
       {{8}},
       [](auto& x) { return relu(x[0]) + relu6(x[0] * 8.0) + leaky_relu(x[0], 0.2); }},
      {"sigmoid tanh", {{8}}, [](auto& x) { return sigmoid(x[0]) * tanh(x[0]); }},
      {"silu hardswish hardsigmoid",
       {{8}},
       [](auto& x) { return silu(x[0]) + hardswish(x[0] * 4.0) + hardsigmoid(x[0] * 4.0); }},
      {"gelu", {{8}}, [](auto& x) { return gelu(x[0]) + gelu(x[0], true); }},
      {"matmul", {{2, 3, 4}, {4, 5}}, [](auto& x) { return matmul(x[0], x[1]); }},
      {"linear", {{3, 4}, {5, 4}, {5}}, [](auto& x) { return linear(x[0], x[1], x[2]); }},
      {"conv2d",
       {{2, 3, 5, 5}, {4, 3, 3, 3}, {4}},
       [&](auto& x) { return conv2d(x[0], x[1], x[2], same); }},
      {"conv2d depthwise strided",
       {{1, 4, 6, 6}, {4, 1, 3, 3}},
       [](auto& x) {
         return conv2d(x[0], x[1], {}, {.stride = {2, 2}, .groups = 4});
       }},
      {"batch_norm train",
       {{3, 2, 2, 3}, {2}, {2}},
       [](auto& x) { return batch_norm(x[0], x[1], x[2], {}, {}, true); }},
      {"max_pool2d", {{1, 2, 4, 4}}, [&](auto& x) { return max_pool2d(x[0], pool); }},
      {"avg_pool2d",
       {{1, 2, 5, 5}},
       [](auto& x) {
         return avg_pool2d(x[0], {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
       }},
      {"adaptive_avg_pool2d",
       {{1, 2, 5, 5}},
       [](auto& x) {
         return adaptive_avg_pool2d(x[0], {3, 7});
       }},
      {"sum mean max",
       {{2, 3, 4}},
       [](auto& x) { return sum(x[0], {1}) + mean(x[0], {-2}) + max(x[0], {1}); }},
      {"softmax log_softmax",
       {{3, 5}},
       [](auto& x) { return softmax(x[0], 1) + log_softmax(x[0], 0); }},
      {"cross_entropy",
       {{4, 3}},
       [](auto& x) {
         return cross_entropy(x[0], Tensor::from_vector(std::vector<int64_t>{0, 2, 1, 2}, {4}),
                              0.1);
       }},
      {"mse", {{2, 3}, {2, 3}}, [](auto& x) { return mse_loss(x[0], x[1]); }},
      {"shape ops",
       {{2, 3, 4}},
       [](auto& x) {
         Tensor t = x[0].permute({2, 0, 1}).reshape({4, 6}).slice(1, 1, 5).unsqueeze(0);
         return pad(concat({t, t * 2.0}, 1), {1, 0, 0, 1}).flatten();
       }},
      {"expand sum_to",
       {{3, 1}},
       [](auto& x) {
         return x[0].expand({2, 3, 4}) * 1.5;
       }},
  };
  for (const Case& c : cases) check_case(c);
}

// Activations and their fused backward ops: forward values against std:: math (float32 and
// float64), PyTorch's gradients at the kinks, finite-difference gradients, errors.
#include <cmath>
#include <functional>
#include <string>

#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

double sig(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}
double r6(double x) {
  return std::min(std::max(x, 0.0), 6.0);
}
double gelu_tanh_ref(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

struct Act {
  std::string name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> ref;
};

std::vector<Act> activations() {
  return {
      {"relu", [](const Tensor& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0; }},
      {"relu6", [](const Tensor& x) { return relu6(x); }, r6},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.2); },
       [](double x) { return x > 0 ? x : 0.2 * x; }},
      {"leaky_relu_default", [](const Tensor& x) { return leaky_relu(x); },
       [](double x) { return x > 0 ? x : 0.01 * x; }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, sig},
      {"tanh", [](const Tensor& x) { return duet::tanh(x); },
       [](double x) { return std::tanh(x); }},
      {"silu", [](const Tensor& x) { return silu(x); }, [](double x) { return x * sig(x); }},
      {"hardsigmoid", [](const Tensor& x) { return hardsigmoid(x); },
       [](double x) { return r6(x + 3) / 6; }},
      {"hardswish", [](const Tensor& x) { return hardswish(x); },
       [](double x) { return x * r6(x + 3) / 6; }},
      {"gelu", [](const Tensor& x) { return gelu(x); },
       [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, true); }, gelu_tanh_ref},
      {"softplus", [](const Tensor& x) { return softplus(x); },
       [](double x) { return std::log1p(std::exp(x)); }},
      {"softplus_beta2", [](const Tensor& x) { return softplus(x, 2.0); },
       [](double x) { return 2 * x > 20 ? x : std::log1p(std::exp(2 * x)) / 2; }},
  };
}

const std::vector<double> kPoints = {-7, -4, -3, -2.5, -1, -0.3, 0, 0.2, 1, 2.9, 3, 3.5, 6, 6.5, 9};

}  // namespace

TEST(Activation, ForwardMatchesReferenceFloat32AndFloat64) {
  for (const Act& a : activations()) {
    SCOPED_TRACE(a.name);
    std::vector<double> expect;
    for (double v : kPoints) expect.push_back(a.ref(v));
    for (DType dt : {float32, float64}) {
      Tensor x = Tensor::from_vector(kPoints, {3, 5}, dt);
      Tensor y = a.op(x);
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_EQ(shape_str(y.shape()), "(3, 5)");
      expect_values(y, expect, dt == float32 ? 1e-6 : 1e-12);
    }
  }
}

TEST(Activation, ForwardOnLargeTensorParallelPath) {
  Generator g(3);
  Tensor x = Tensor::uniform({300, 301}, -8, 8, g, float32);
  std::vector<double> xv = x.to_vector<double>();
  for (const Act& a : activations()) {
    SCOPED_TRACE(a.name);
    std::vector<double> y = a.op(x).to_vector<double>();
    for (size_t i = 0; i < xv.size(); i += 997) {
      const double e = a.ref(static_cast<float>(xv[i]));
      ASSERT_NEAR(y[i], e, 1e-5 * (1 + std::abs(e))) << "at " << i;
    }
  }
}

TEST(Activation, NanPropagatesThroughRelu) {
  Tensor x = Tensor::from_vector({NAN, -1.0, 2.0}, {3});
  std::vector<float> y = relu(x).to_vector<float>();
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(y[2], 2.0f);
}

// Gradients at the kinks follow PyTorch.
TEST(Activation, GradientsAtKinksMatchPyTorch) {
  auto grad_of = [](const std::function<Tensor(const Tensor&)>& f, std::vector<double> xs) {
    Tensor x = Tensor::from_vector(xs, {static_cast<int64_t>(xs.size())}, float64).requires_grad_();
    sum(f(x)).backward();
    return x.grad();
  };
  expect_values(grad_of([](const Tensor& x) { return relu(x); }, {-1, 0, 1}), {0, 0, 1});
  expect_values(grad_of([](const Tensor& x) { return relu6(x); }, {-1, 0, 3, 6, 7}),
                {0, 0, 1, 0, 0});
  expect_values(grad_of([](const Tensor& x) { return leaky_relu(x, 0.1); }, {-1, 0, 1}),
                {0.1, 0.1, 1});
  expect_values(grad_of([](const Tensor& x) { return hardsigmoid(x); }, {-4, -3, 0, 3, 4}),
                {0, 0, 1.0 / 6, 0, 0});
  // hardswish: x < -3: 0; -3 <= x <= 3: (2x + 3) / 6; x > 3: 1
  expect_values(grad_of([](const Tensor& x) { return hardswish(x); }, {-4, -3, -1.5, 0, 3, 4}),
                {0, -0.5, 0, 0.5, 1.5, 1});
  // sigmoid'(0) = 1/4, tanh'(0) = 1, silu'(0) = 1/2, gelu'(0) = 1/2
  expect_values(grad_of([](const Tensor& x) { return sigmoid(x); }, {0}), {0.25});
  expect_values(grad_of([](const Tensor& x) { return duet::tanh(x); }, {0}), {1});
  expect_values(grad_of([](const Tensor& x) { return silu(x); }, {0}), {0.5});
  expect_values(grad_of([](const Tensor& x) { return gelu(x); }, {0}), {0.5});
  expect_values(grad_of([](const Tensor& x) { return gelu(x, true); }, {0}), {0.5});
}

TEST(Activation, GradcheckFloat64) {
  Tensor x = rand64({3, 7}, 11, -5, 5);
  for (const Act& a : activations()) {
    SCOPED_TRACE(a.name);
    auto op = a.op;
    gradcheck([op](const std::vector<Tensor>& v) { return op(v[0]); }, {x});
  }
}

TEST(Activation, SavesOnlyWhatTheGradientNeeds) {
  // relu/sigmoid/tanh save their output: overwriting the input afterwards is harmless.
  for (auto f :
       {+[](const Tensor& t) { return relu(t); }, +[](const Tensor& t) { return sigmoid(t); },
        +[](const Tensor& t) { return duet::tanh(t); }}) {
    Tensor x = rand64({4}, 5);
    Tensor xin = x * 1.0;
    Tensor z = f(xin);
    xin.fill_(3.0);
    sum(z).backward();
    EXPECT_TRUE(x.grad().defined());
  }
  // silu/gelu/hardswish save their input: the tape notices the overwrite.
  for (auto f : {+[](const Tensor& t) { return silu(t); }, +[](const Tensor& t) { return gelu(t); },
                 +[](const Tensor& t) { return hardswish(t); }}) {
    Tensor x = rand64({4}, 5);
    Tensor xin = x * 1.0;
    Tensor z = f(xin);
    xin.fill_(3.0);
    EXPECT_DUET_ERROR(sum(z).backward(), "modified in place");
  }
}

// Each fused backward op against its closed form, and its own gradient rule against finite
// differences (wrt grad, and wrt the saved tensor where the second derivative is nonzero).
TEST(Activation, BackwardOpsValuesAndGradcheck) {
  Tensor g = rand64({2, 5}, 21);
  Tensor x = rand64({2, 5}, 22, -5, 5);
  Tensor xn = x.detach();
  std::vector<double> gv = g.to_vector<double>(), xv = x.to_vector<double>();
  auto check = [&](const Tensor& out, const std::function<double(double, double)>& f) {
    std::vector<double> e;
    for (size_t i = 0; i < gv.size(); ++i) e.push_back(f(gv[i], xv[i]));
    expect_values(out, e, 1e-12);
  };
  check(relu_backward(g, xn), [](double g, double y) { return y > 0 ? g : 0; });
  check(relu6_backward(g, xn), [](double g, double y) { return y > 0 && y < 6 ? g : 0; });
  check(leaky_relu_backward(g, xn, 0.3), [](double g, double x) { return x > 0 ? g : 0.3 * g; });
  check(sigmoid_backward(g, xn), [](double g, double y) { return g * y * (1 - y); });
  check(tanh_backward(g, xn), [](double g, double y) { return g * (1 - y * y); });
  check(silu_backward(g, xn),
        [](double g, double x) { return g * sig(x) * (1 + x * (1 - sig(x))); });
  check(hardsigmoid_backward(g, xn),
        [](double g, double x) { return x > -3 && x < 3 ? g / 6 : 0; });
  check(hardswish_backward(g, xn),
        [](double g, double x) { return x < -3 ? 0 : (x <= 3 ? g * (2 * x + 3) / 6 : g); });
  check(gelu_backward(g, xn), [](double g, double x) {
    return g * (0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
                x * std::exp(-x * x / 2) / std::sqrt(2 * M_PI));
  });

  // First input only (the saved one is piecewise constant in these).
  gradcheck([&](const std::vector<Tensor>& v) { return relu_backward(v[0], xn); }, {g});
  gradcheck([&](const std::vector<Tensor>& v) { return relu6_backward(v[0], xn); }, {g});
  gradcheck([&](const std::vector<Tensor>& v) { return leaky_relu_backward(v[0], xn, 0.3); }, {g});
  gradcheck([&](const std::vector<Tensor>& v) { return hardsigmoid_backward(v[0], xn); }, {g});
  // Both inputs.
  Tensor y01 = rand64({2, 5}, 23, 0.05, 0.95);
  gradcheck([](const std::vector<Tensor>& v) { return sigmoid_backward(v[0], v[1]); }, {g, y01});
  gradcheck([](const std::vector<Tensor>& v) { return tanh_backward(v[0], v[1]); }, {g, y01});
  gradcheck([](const std::vector<Tensor>& v) { return silu_backward(v[0], v[1]); }, {g, x});
  gradcheck([](const std::vector<Tensor>& v) { return hardswish_backward(v[0], v[1]); }, {g, x});
  gradcheck([](const std::vector<Tensor>& v) { return gelu_backward(v[0], v[1]); }, {g, x});
  gradcheck([](const std::vector<Tensor>& v) { return gelu_backward(v[0], v[1], true); }, {g, x});
}

// softplus against PyTorch 1.13 (torch.nn.functional.softplus and its autograd gradient), on
// both sides of the threshold, float64 and float32.
TEST(Activation, SoftplusMatchesPyTorch) {
  const std::vector<double> xs = {-30, -7, -1.5, -0.3, 0, 0.2, 1, 4.9, 5.1, 9.5, 10.5, 25};
  struct Case {
    double beta, threshold;
    std::vector<double> y64, g64, y32;
  };
  const std::vector<Case> cases = {
      {1.0, 20.0,
       {9.357622968839737e-14, 0.0009114664537742447, 0.2014132779827524, 0.5543552444685271,
        0.6931471805599453, 0.7981388693815918, 1.3132616875182228, 4.907418994148687,
        5.106078236601779, 9.50007484902863, 10.50002753607023, 25.0},
       {9.3576229688393e-14, 0.0009110511944006454, 0.18242552380635632, 0.425557483188341, 0.5,
        0.549833997312478, 0.7310585786300049, 0.992608458655718, 0.9939401985084159,
        0.9999251537724894, 0.9999724643088854, 1.0},
       {9.357622912219837e-14, 0.000911466486286372, 0.20141328871250153, 0.554355263710022,
        0.6931471824645996, 0.7981388568878174, 1.31326162815094, 4.907419204711914,
        5.106078147888184, 9.50007438659668, 10.500027656555176, 25.0}},
      {2.0, 10.0,
       {4.37825538134826e-27, 4.157641866918771e-07, 0.02429367578687103, 0.21874397524294284,
        0.34657359027997264, 0.4565076261999763, 1.0634640055214863, 4.900027725031025, 5.1,
        9.5, 10.5, 25.0},
       {8.75651076269652e-27, 8.315280276641321e-07, 0.04742587317756679, 0.35434369377420455,
        0.5, 0.598687660112452, 0.8807970779778824, 0.9999445514752772, 1.0, 1.0, 1.0, 1.0},
       {4.37825544636038e-27, 4.1576419107514084e-07, 0.024293676018714905, 0.2187439650297165,
        0.3465735912322998, 0.4565076231956482, 1.0634640455245972, 4.900027751922607,
        5.099999904632568, 9.5, 10.5, 25.0}},
      {0.5, 3.0,
       {6.11804547427441e-07, 0.05950083654524113, 0.7737420122297999, 1.2419140955790642,
        1.3862943611198906, 1.488793320147142, 1.9481539683602134, 5.0655430449071055,
        5.25036645315158, 9.5, 10.5, 25.0},
       {3.059022269256247e-07, 0.029312230751356316, 0.32082130082460697, 0.46257015465625045,
        0.5, 0.52497918747894, 0.6224593312018546, 0.9205614508160216, 0.9275735146384823, 1.0,
        1.0, 1.0},
       {6.118045234870806e-07, 0.059500835835933685, 0.7737420201301575, 1.24191415309906,
        1.3862943649291992, 1.4887933731079102, 1.9481539726257324, 5.065543174743652,
        5.2503662109375, 9.5, 10.5, 25.0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.beta);
    Tensor x = Tensor::from_vector(xs, {3, 4}, float64).requires_grad_();
    Tensor y = softplus(x, c.beta, c.threshold);
    sum(y).backward();
    expect_values(y, c.y64, 1e-14);
    expect_values(x.grad(), c.g64, 1e-14);
    expect_values(softplus(Tensor::from_vector(xs, {3, 4}, float32), c.beta, c.threshold), c.y32,
                  1e-6);
  }
  EXPECT_EQ(shape_str(softplus(Tensor::zeros({0, 3})).shape()), "(0, 3)");
}

// softplus and softplus_backward (its double-backward rule) against central finite
// differences in float64, away from the threshold (where softplus has a tiny jump).
TEST(Activation, SoftplusGradcheck) {
  Tensor x = rand64({3, 7}, 31, -5, 5);
  for (double beta : {1.0, 0.5, 3.0}) {
    SCOPED_TRACE(beta);
    gradcheck([beta](const std::vector<Tensor>& v) { return softplus(v[0], beta, 20.0); }, {x});
    Tensor g = rand64({3, 7}, 32);
    gradcheck([beta](const std::vector<Tensor>& v) {
      return softplus_backward(v[0], v[1], beta, 20.0);
    }, {g, x});
  }
  // Above the threshold softplus is x: gradient 1, second derivative 0.
  Tensor big = Tensor::from_vector({30.0, 40.0}, {2}, float64).requires_grad_();
  Tensor g1 = softplus_backward(Tensor::ones({2}, float64), big);
  expect_values(g1, {1, 1});
  sum(softplus_backward(Tensor::ones({2}, float64), big)).backward();
  expect_values(big.grad(), {0, 0});
}

TEST(Activation, Errors) {
  Tensor i = Tensor::zeros({2}, int64);
  EXPECT_DUET_ERROR(relu(i), "relu", "int64", "expected float32, float64, bfloat16 or float16");
  EXPECT_DUET_ERROR(gelu(i), "gelu", "int64");
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  EXPECT_DUET_ERROR(relu_backward(a, b), "relu_backward", "(2, 3)", "(3, 2)");
  EXPECT_DUET_ERROR(silu_backward(a, Tensor::zeros({2, 3}, float64)), "silu_backward", "float64");
}

// Implicit type promotion of binary ops (src/ops/promotion.cpp): PyTorch's result dtypes
// (torch.promote_types, checked against PyTorch's table in dtype_promote_test), the values of
// the op on the promoted operands, gradients in each input's own dtype, and graph mode
// recording the same casts as eager.
#include <gtest/gtest.h>

#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// a and b in float64 (exact for every dtype here), the op applied there, then rounded to the
// result dtype: what PyTorch computes (the promoted operands hold the same values, and one
// float32 or float64 operation rounds once).
std::vector<double> reference(const Tensor& a, const Tensor& b, DType result,
                              double (*f)(double, double)) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  std::vector<double> out;
  for (size_t i = 0; i < x.size(); ++i) out.push_back(f(x[i], y.size() == 1 ? y[0] : y[i]));
  return Tensor::from_vector(out, {static_cast<int64_t>(out.size())}, float64)
      .to(result)
      .to_vector<double>();
}

Tensor sample(DType t, uint64_t seed, int64_t n = 6) {
  Generator g(seed);
  if (t == int64) return Tensor::from_vector(std::vector<int64_t>{-3, 0, 1, 2, 5, 7}, {n});
  if (t == bool_)
    return Tensor::from_vector(std::vector<bool>{true, false, true, true, false, true}, {n});
  return Tensor::randn({n}, g, t);
}

}  // namespace

// Every pair whose promoted dtype is float32 or float64 (runs the float kernels): add, sub,
// mul, div, maximum, minimum and a comparison, values exact.
TEST(DtypePromotion, BinaryOpsPromoteLikePyTorch) {
  const DType all[] = {float32, float64, int64, bool_, float16, bfloat16};
  int checked = 0;
  for (DType ta : all) {
    for (DType tb : all) {
      const DType r = promote_types(ta, tb);
      if (ta == tb || (r != float32 && r != float64)) continue;
      SCOPED_TRACE(std::string(dtype_name(ta)) + " with " + dtype_name(tb));
      const Tensor a = sample(ta, 1), b = sample(tb, 2);
      const Tensor s = add(a, b), d = sub(a, b), m = mul(a, b), q = div(a, b);
      const Tensor mx = maximum(a, b), mn = minimum(a, b), lt_ab = lt(a, b);
      for (const Tensor& t : {s, d, m, q, mx, mn}) EXPECT_EQ(t.dtype(), r);
      EXPECT_EQ(lt_ab.dtype(), bool_);
      EXPECT_EQ(s.to_vector<double>(),
                reference(a, b, r, [](double x, double y) { return x + y; }));
      EXPECT_EQ(d.to_vector<double>(),
                reference(a, b, r, [](double x, double y) { return x - y; }));
      EXPECT_EQ(m.to_vector<double>(),
                reference(a, b, r, [](double x, double y) { return x * y; }));
      // x / y rounds once in r: the float64 quotient rounded to float32 is the float32 quotient.
      const std::vector<double> qv = q.to_vector<double>(),
                                qr = reference(a, b, r, [](double x, double y) { return x / y; });
      for (size_t i = 0; i < qv.size(); ++i)
        if (!std::isnan(qr[i])) {
          EXPECT_EQ(qv[i], qr[i]) << i;
        }
      EXPECT_EQ(mx.to_vector<double>(),
                reference(a, b, r, [](double x, double y) { return x > y ? x : y; }));
      EXPECT_EQ(mn.to_vector<double>(),
                reference(a, b, r, [](double x, double y) { return x < y ? x : y; }));
      const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
      const std::vector<bool> lv = lt_ab.to_vector<bool>();
      for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(lv[i], x[i] < y[i]) << i;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 20);  // the off-diagonal pairs of the table that promote to float32/64
}

TEST(DtypePromotion, BroadcastAndWhere) {
  const Tensor a = Tensor::from_vector({1.1, 2.2, 3.3, 4.4, 5.5, 6.6}, {2, 3});  // float32
  const Tensor b = Tensor::from_vector({0.1, 0.2, 0.3}, {3}, bfloat16);
  const Tensor s = add(a, b);
  EXPECT_EQ(s.dtype(), float32);
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>();
  std::vector<float> expect;
  for (int i = 0; i < 6; ++i) expect.push_back(av[i] + bv[i % 3]);
  EXPECT_EQ(s.to_vector<float>(), expect);
  // where(cond, float32, float16) -> float32; where(cond, float16, float64) -> float64.
  const Tensor c = Tensor::from_vector(std::vector<bool>{true, false, true}, {3});
  const Tensor h = Tensor::from_vector({-1.1, -2.2, -3.3}, {3}, float16);
  const Tensor w = where(c, a, h);
  EXPECT_EQ(w.dtype(), float32);
  const std::vector<float> hv = h.to_vector<float>();
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{av[0], hv[1], av[2], av[3], hv[1], av[5]}));
  EXPECT_EQ(where(c, h, Tensor::zeros({3}, float64)).dtype(), float64);
  // Operators promote too.
  EXPECT_EQ((a * b).dtype(), float32);
  EXPECT_EQ((b - a).dtype(), float32);
  // Scalars keep the tensor's dtype (a Python number does not promote a tensor in PyTorch).
  EXPECT_EQ(mul(a, 3.0).dtype(), float32);
  EXPECT_EQ(add(Tensor::ones({2}, float64), 0.5).dtype(), float64);
  // A mismatch that promotion does not cover is still an error naming both.
  EXPECT_DUET_ERROR(add(a, Tensor::ones({4}, bfloat16)), "add", "(2, 3)", "(4,)", "broadcast");
  EXPECT_DUET_ERROR(where(Tensor::ones({3}), a, b), "where", "condition", "float32", "bool");
  // A fused op (made by a graph pass from already promoted operands) takes one dtype.
  EXPECT_DUET_ERROR(add_relu(Tensor::zeros({3}), b), "add_relu", "float32", "bfloat16");
}

// concat promotes all its inputs (torch.cat: float16 with bfloat16 -> float32, int64 with
// bfloat16 -> bfloat16).
TEST(DtypePromotion, ConcatPromotesAllInputs) {
  const Tensor h = Tensor::from_vector({1.1, 2.2}, {2}, float16);
  const Tensor b = Tensor::from_vector({3.3}, {1}, bfloat16);
  const Tensor f = Tensor::from_vector({4.4, 5.5}, {2});
  const Tensor hb = concat({h, b}, 0);
  EXPECT_EQ(hb.dtype(), float32);
  const std::vector<float> hv = h.to_vector<float>(), bv = b.to_vector<float>();
  EXPECT_EQ(hb.to_vector<float>(), (std::vector<float>{hv[0], hv[1], bv[0]}));
  const Tensor hbf = concat({h, b, f}, 0);
  EXPECT_EQ(hbf.dtype(), float32);
  EXPECT_EQ(hbf.to_vector<float>()[4], 5.5f);
  const Tensor ib = concat({Tensor::arange(3), b}, 0);
  EXPECT_EQ(ib.dtype(), bfloat16);
  EXPECT_EQ(ib.to_vector<float>(), (std::vector<float>{0, 1, 2, bv[0]}));
  EXPECT_EQ(concat({h, h}, 0).dtype(), float16);
}

// The cast is a recorded op: each input's gradient comes back in its own dtype, with the
// value of the float32 gradient rounded to that dtype.
TEST(DtypePromotion, GradientsComeBackInEachInputsDtype) {
  Tensor a = Tensor::from_vector({1.1, -2.2, 3.3}, {3}).requires_grad_();  // float32
  Tensor b = Tensor::from_vector({0.7, 0.9, -1.3}, {3}, bfloat16).requires_grad_();
  Tensor h = Tensor::from_vector({2.0, 4.0, 8.0}, {3}, float64).requires_grad_();
  Tensor y = mul(a, b);  // float32
  EXPECT_EQ(y.dtype(), float32);
  Tensor z = div(y, h);  // float64
  EXPECT_EQ(z.dtype(), float64);
  sum(z).backward();
  ASSERT_TRUE(a.grad().defined() && b.grad().defined() && h.grad().defined());
  EXPECT_EQ(a.grad().dtype(), float32);
  EXPECT_EQ(b.grad().dtype(), bfloat16);
  EXPECT_EQ(h.grad().dtype(), float64);
  const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>();
  const std::vector<double> hv = h.to_vector<double>();
  for (int i = 0; i < 3; ++i) {
    // d/da = b / h (float64, rounded to float32); d/db = a / h rounded to bfloat16.
    EXPECT_EQ(a.grad().to_vector<float>()[i], static_cast<float>(bv[i] / hv[i])) << i;
    EXPECT_EQ(b.grad().to_vector<BFloat16>()[i].bits,
              BFloat16(static_cast<float>(static_cast<double>(av[i]) / hv[i])).bits)
        << i;
    const double y64 = static_cast<double>(av[i] * bv[i]);  // y is float32
    EXPECT_DOUBLE_EQ(h.grad().to_vector<double>()[i], -y64 / (hv[i] * hv[i])) << i;
  }
}

// Graph mode records the same casts: a compiled graph of mixed-dtype inputs gives eager's
// dtypes and bits.
TEST(DtypePromotion, GraphModeMatchesEager) {
  Generator gen(5);
  const Tensor xa = Tensor::randn({4, 3}, gen);           // float32
  const Tensor xb = Tensor::randn({3}, gen, bfloat16);    // bfloat16
  const Tensor xc = Tensor::randn({4, 3}, gen, float16);  // float16
  auto model = [](const Tensor& a, const Tensor& b, const Tensor& c) {
    Tensor s = add(a, b);     // float32
    Tensor m = mul(c, b);     // float16 * bfloat16 -> float32
    Tensor above = gt(s, c);  // float32 vs float16 -> bool
    return std::vector<Tensor>{sub(s, m), where(above, c, s), maximum(m, c)};
  };
  const std::vector<Tensor> eager = model(xa, xb, xc);
  Graph g;
  const Tensor a = g.input("a", {4, 3}), b = g.input("b", {3}, bfloat16),
               c = g.input("c", {4, 3}, float16);
  const std::vector<Tensor> sym = model(a, b, c);
  for (const Tensor& t : sym) EXPECT_EQ(t.dtype(), float32);
  auto exe = compile(g, sym);
  const std::vector<Tensor> out = exe.run({{"a", xa}, {"b", xb}, {"c", xc}});
  ASSERT_EQ(out.size(), eager.size());
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].dtype(), eager[i].dtype()) << i;
    EXPECT_EQ(out[i].to_vector<float>(), eager[i].to_vector<float>()) << i;
  }
}

// Graph autodiff through the promotion casts: the gradient of each graph input comes back in
// its own dtype, with eager's bits.
TEST(DtypePromotion, GraphGradientsMatchEager) {
  Generator gen(9);
  const Tensor xa = Tensor::randn({4, 3}, gen);           // float32
  const Tensor xb = Tensor::randn({3}, gen, bfloat16);    // bfloat16
  const Tensor xh = Tensor::randn({4, 3}, gen, float16);  // float16
  auto loss_of = [](const Tensor& a, const Tensor& b, const Tensor& h) {
    return sum(mul(sub(a, b), h));  // float32 throughout after the casts
  };
  Tensor ea = xa.detach().requires_grad_(), eb = xb.detach().requires_grad_(),
         eh = xh.detach().requires_grad_();
  loss_of(ea, eb, eh).backward();
  EXPECT_EQ(eb.grad().dtype(), bfloat16);
  EXPECT_EQ(eh.grad().dtype(), float16);

  Graph g;
  const Tensor a = g.input("a", {4, 3}), b = g.input("b", {3}, bfloat16),
               h = g.input("h", {4, 3}, float16);
  const Tensor loss = loss_of(a, b, h);
  const std::vector<Tensor> grads = gradients(loss, {a, b, h});
  ASSERT_EQ(grads.size(), 3u);
  EXPECT_EQ(grads[0].dtype(), float32);
  EXPECT_EQ(grads[1].dtype(), bfloat16);
  EXPECT_EQ(grads[2].dtype(), float16);
  auto exe = compile(g, grads);
  const std::vector<Tensor> out = exe.run({{"a", xa}, {"b", xb}, {"h", xh}});
  ASSERT_EQ(out.size(), 3u);
  const Tensor eager[] = {ea.grad(), eb.grad(), eh.grad()};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(out[i].dtype(), eager[i].dtype()) << i;
    EXPECT_EQ(out[i].to_vector<float>(), eager[i].to_vector<float>()) << i;
  }
}

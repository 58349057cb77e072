// matmul and linear: forward against naive loops, gradients against finite differences, errors.
#include "duet/threads.h"

#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// numpy matmul with plain loops (rank-1 promotion, broadcast batch dimensions).
Tensor ref_matmul(const Tensor& a, const Tensor& b) {
  Shape sa = a.shape(), sb = b.shape();
  const bool va = sa.size() == 1, vb = sb.size() == 1;
  if (va) sa.insert(sa.begin(), 1);
  if (vb) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  Shape bo = broadcast_shapes(ba, bb, "ref");
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  std::vector<double> out;
  const int64_t nb = numel(bo);
  auto offset = [&](const Shape& bs, int64_t bi) {  // batch index of an operand
    int64_t off = 0, mul = 1;
    for (size_t d = bo.size(); d-- > 0;) {
      const int64_t idx = bi % bo[d];
      bi /= bo[d];
      const int64_t od = static_cast<int64_t>(d) - static_cast<int64_t>(bo.size() - bs.size());
      if (od < 0) continue;
      off += (bs[od] == 1 ? 0 : idx) * mul;
      mul *= bs[od];
    }
    return off;
  };
  for (int64_t i = 0; i < nb; ++i) {
    const int64_t oa = offset(ba, i) * m * k, ob = offset(bb, i) * k * n;
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < n; ++c) {
        double s = 0;
        for (int64_t j = 0; j < k; ++j) s += av[oa + r * k + j] * bv[ob + j * n + c];
        out.push_back(s);
      }
  }
  Shape os = bo;
  if (!va) os.push_back(m);
  if (!vb) os.push_back(n);
  return Tensor::from_vector(out, os, float64);
}

Tensor rnd(const Shape& s, uint64_t seed, DType dt = float64) {
  Generator g(seed);
  return Tensor::uniform(s, -1, 1, g, dt);
}

}  // namespace

TEST(Matmul, ForwardMatchesNaive) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {4, 5}},
      {{2, 3, 4}, {4, 5}},
      {{4}, {4, 5}},
      {{3, 4}, {4}},
      {{4}, {4}},
      {{2, 1, 3, 4}, {5, 4, 2}},
      {{1, 3, 4}, {2, 4, 5}},
      {{2, 3, 4}, {2, 4, 5}},
      {{4}, {2, 4, 3}},
      {{2, 3, 4}, {4}},
      {{7, 1, 65}, {65, 33}},
      {{8, 2, 3}, {8, 3, 2}},
      {{0, 3, 4}, {4, 5}},
      {{3, 0}, {0, 5}},
      {{70, 40}, {40, 90}},
  };
  for (DType dt : {float64, float32}) {
    for (auto& [sa, sb] : cases) {
      SCOPED_TRACE(shape_str(sa) + " @ " + shape_str(sb));
      Tensor a = rnd(sa, 1, dt), b = rnd(sb, 2, dt);
      Tensor c = matmul(a, b);
      EXPECT_EQ(c.dtype(), dt);
      expect_close(c, ref_matmul(a, b), dt == float32 ? 1e-5 : 1e-12, dt == float32 ? 1e-5 : 1e-12);
    }
  }
}

TEST(Matmul, StridedOperands) {
  Tensor a = rnd({2, 4, 3}, 3), b = rnd({2, 5, 4}, 4);
  // Transposed views go to the GEMM as transposed operands (no copy).
  Tensor at = a.transpose(1, 2), bt = b.transpose(1, 2);  // (2, 3, 4), (2, 4, 5)
  expect_close(matmul(at, bt), ref_matmul(at.contiguous(), bt.contiguous()), 1e-12, 1e-12);
  // Broadcast batch via expand (stride 0) and a stepped slice (needs a copy).
  Tensor e = rnd({3, 4}, 5).expand({6, 3, 4});
  Tensor s = rnd({4, 10}, 6).slice(1, 0, 10, 2);  // (4, 5), column stride 2
  expect_close(matmul(e, s), ref_matmul(e.contiguous(), s.contiguous()), 1e-12, 1e-12);
  Tensor v = rnd({8}, 7).slice(0, 0, 8, 2);  // (4,), stride 2
  expect_close(matmul(v, s), ref_matmul(v.contiguous(), s.contiguous()), 1e-12, 1e-12);
  expect_close(matmul(at, v), ref_matmul(at.contiguous(), v.contiguous()), 1e-12, 1e-12);
}

TEST(Matmul, ParallelBatchMatchesSerial) {
  const int saved = duet::num_threads();
  Tensor a = rnd({12, 5, 7}, 8), b = rnd({12, 7, 6}, 9);
  Tensor ref = ref_matmul(a, b);
  for (int t : {1, 2, 3}) {
    duet::set_num_threads(t);
    expect_close(matmul(a, b), ref, 1e-12, 1e-12);
  }
  duet::set_num_threads(saved);
}

TEST(Matmul, Gradcheck) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {4, 5}}, {{2, 1, 3, 4}, {5, 4, 2}}, {{4}, {4}},          {{4}, {2, 4, 3}},
      {{2, 3, 4}, {4}}, {{2, 3, 4}, {4, 2}},       {{3, 4}, {2, 4, 2}},
  };
  for (auto& [sa, sb] : cases) {
    SCOPED_TRACE(shape_str(sa) + " @ " + shape_str(sb));
    gradcheck([](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); },
              {rand64(sa, 10), rand64(sb, 11)});
  }
  // Through a transposed view.
  gradcheck([](const std::vector<Tensor>& t) { return matmul(t[0].transpose(0, 1), t[1]); },
            {rand64({4, 3}, 12), rand64({4, 2}, 13)});
}

TEST(Matmul, Errors) {
  EXPECT_DUET_ERROR(matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})), "matmul", "(2, 3)",
                    "(4, 5)", "inner");
  EXPECT_DUET_ERROR(matmul(Tensor::zeros({3}), Tensor::zeros({4})), "matmul", "(3,)", "(4,)");
  EXPECT_DUET_ERROR(matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 5})), "matmul",
                    "(2, 3, 4)", "(3, 4, 5)", "batch");
  EXPECT_DUET_ERROR(matmul(Tensor::zeros({}), Tensor::zeros({4})), "matmul", "rank >= 1");
  EXPECT_DUET_ERROR(matmul(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}, float64)), "matmul",
                    "float64");
  EXPECT_DUET_ERROR(matmul(Tensor::zeros({2, 3}, int64), Tensor::zeros({3, 2}, int64)), "matmul",
                    "int64");
}

TEST(Linear, ForwardMatchesNaive) {
  for (DType dt : {float64, float32}) {
    Tensor x = rnd({2, 3, 5}, 20, dt), w = rnd({4, 5}, 21, dt), b = rnd({4}, 22, dt);
    const double tol = dt == float32 ? 1e-5 : 1e-12;
    Tensor ref = ref_matmul(x, w.contiguous().transpose(0, 1).contiguous());
    expect_close(linear(x, w), ref, tol, tol);
    std::vector<double> rv = ref.to_vector<double>(), bv = b.to_vector<double>();
    for (size_t i = 0; i < rv.size(); ++i) rv[i] += bv[i % 4];
    expect_close(linear(x, w, b), Tensor::from_vector(rv, {2, 3, 4}, float64), tol, tol);
    // rank-1 input
    Tensor v = rnd({5}, 23, dt);
    Tensor rv1 = ref_matmul(w, v);
    expect_close(linear(v, w), rv1, tol, tol);
  }
}

TEST(Linear, Gradcheck) {
  gradcheck([](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); },
            {rand64({2, 3, 5}, 30), rand64({4, 5}, 31), rand64({4}, 32)});
  gradcheck([](const std::vector<Tensor>& t) { return linear(t[0], t[1]); },
            {rand64({3, 5}, 33), rand64({2, 5}, 34)});
  gradcheck([](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); },
            {rand64({5}, 35), rand64({3, 5}, 36), rand64({3}, 37)});
  // Only the weight requires grad.
  Tensor x = rnd({4, 3}, 38);
  gradcheck([x](const std::vector<Tensor>& t) { return linear(x, t[0]); }, {rand64({2, 3}, 39)});
}

TEST(Linear, Errors) {
  EXPECT_DUET_ERROR(linear(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})), "linear", "(2, 3)",
                    "(4, 5)");
  EXPECT_DUET_ERROR(linear(Tensor::zeros({2, 3}), Tensor::zeros({3})), "linear", "weight", "(3,)");
  EXPECT_DUET_ERROR(linear(Tensor::zeros({2, 3}), Tensor::zeros({4, 3}), Tensor::zeros({3})),
                    "linear", "bias", "(3,)", "(4,)");
  EXPECT_DUET_ERROR(linear(Tensor::zeros({2, 3}), Tensor::zeros({4, 3}, float64)), "linear",
                    "float64");
  EXPECT_DUET_ERROR(linear(Tensor::zeros({}), Tensor::zeros({4, 3})), "linear", "rank >= 1");
}

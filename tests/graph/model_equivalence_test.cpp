// check_equivalence on the Fashion-MNIST CNN, and its report when graph and eager differ.
#include "duet/equivalence.h"
#include "duet/graph.h"
#include "duet/models/fashion_cnn.h"
#include "duet/optim.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

std::vector<std::pair<Tensor, Tensor>> batches(int n, int64_t bs) {
  Generator gen(3);
  std::vector<std::pair<Tensor, Tensor>> r;
  for (int i = 0; i < n; ++i) {
    std::vector<int64_t> y(bs);
    for (auto& v : y) v = static_cast<int64_t>(gen.below(10));
    r.emplace_back(Tensor::randn({bs, 1, 28, 28}, gen), Tensor::from_vector(y, {bs}));
  }
  return r;
}

Tensor ce(const Tensor& out, const Tensor& y) {
  return cross_entropy(out, y);
}

// Adds a tiny bias only when traced: a model whose graph and eager runs differ.
struct Diverging : nn::Module {
  std::shared_ptr<nn::Sequential> body;
  int line = 0;
  explicit Diverging(Generator& gen) : Module("Diverging") {
    body = register_module("body", models::fashion_cnn(gen, 0.0));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*body)(x);
    line = __LINE__ + 1;
    return is_tracing() ? add(y, 1e-3) : y;
  }
};

}  // namespace

TEST(ModelEquivalence, FashionCnnBitExactOverSeveralSteps) {
  Generator gen(1);
  auto net = models::fashion_cnn(gen);  // with dropout: masks must match too
  EquivalenceOptions opts;
  opts.bit_exact = true;
  opts.optimizer = [](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(std::move(p), 1e-3);
  };
  EquivalenceReport r = check_equivalence(*net, ce, batches(2, 4), 4, opts);
  EXPECT_TRUE(r.equivalent) << r.str();
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(r.max_rel_diff, 0.0) << r.str();
}

TEST(ModelEquivalence, DefaultPassesStayWithinTolerance) {
  Generator gen(2);
  auto net = models::fashion_cnn(gen);
  EquivalenceReport r = check_equivalence(*net, ce, batches(3, 2), 3);
  EXPECT_TRUE(r.equivalent) << r.str();
  EXPECT_LE(r.max_rel_diff, 1e-5);
}

TEST(ModelEquivalence, NamesTheFirstDivergingNode) {
  Generator gen(4);
  Diverging net(gen);
  EquivalenceReport r = check_equivalence(net, ce, batches(1, 2), 2);
  EXPECT_FALSE(r.equivalent);
  EXPECT_EQ(r.first_bad_step, 0);
  EXPECT_EQ(r.first_bad_value, "output");
  const std::string where = "model_equivalence_test.cpp:" + std::to_string(net.line);
  EXPECT_NE(r.diverging_node.find("add_scalar"), std::string::npos) << r.str();
  EXPECT_NE(r.diverging_node.find(where), std::string::npos) << r.str() << " expected " << where;
  EXPECT_NE(r.str().find("first diverging graph node"), std::string::npos);
}

// fit / evaluate with FitOptions::autocast / EvaluateOptions::autocast, eager and graph: the
// loss falls, low-precision accuracy ends close to float32's, parameters stay float32, and
// (bit_exact) eager and graph agree bit for bit.
#include "duet/amp.h"
#include "duet/data/dataloader.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train/fit.h"
#include "test_util.h"

using namespace duet;

namespace {

// 256 samples of 16 features, 4 classes from a random linear map (learnable).
struct Task {
  Tensor x, y;
  Task(int64_t n, uint64_t seed) {
    Generator gen(seed);
    x = Tensor::randn({n, 16}, gen);
    Generator wgen(99);  // the same map for the training and the validation set
    y = argmax(matmul(x, Tensor::randn({16, 4}, wgen)), 1);
  }
};

struct FitRun {
  train::History history;
  train::Logs eval;
  std::vector<Tensor> params;
};

FitRun run(train::Execution mode, std::optional<DType> autocast) {
  Task data(256, 1), val(128, 2);
  Generator gen(3);
  auto net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(16, 32, true, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(32, 4, true, gen)});
  optim::SGD opt(net->parameters(), 0.1, 0.9);
  data::DataLoader loader(data.x, data.y, 32, /*shuffle=*/true, /*seed=*/4);
  data::DataLoader val_loader(val.x, val.y, 64, /*shuffle=*/false);
  FitRun r;
  r.history = train::fit(*net, train::cross_entropy_loss, opt, loader,
                         {.epochs = 4,
                          .mode = mode,
                          .metrics = {std::make_shared<train::Accuracy>()},
                          .bit_exact = true,
                          .progress = train::Progress::none,
                          .autocast = autocast});
  r.eval = train::evaluate(*net, train::cross_entropy_loss, val_loader,
                           {.mode = mode,
                            .metrics = {std::make_shared<train::Accuracy>()},
                            .bit_exact = true,
                            .autocast = autocast});
  for (const Tensor& p : net->parameters()) r.params.push_back(p.clone());
  return r;
}

}  // namespace

class AutocastFit : public ::testing::TestWithParam<DType> {};

TEST_P(AutocastFit, TrainsInBothModesAndMatchesFloat32) {
  const DType lowp = GetParam();
  const FitRun fp32 = run(train::Execution::eager, std::nullopt);
  const FitRun eager = run(train::Execution::eager, lowp);
  const FitRun graph = run(train::Execution::graph, lowp);
  for (const FitRun* r : {&eager, &graph}) {
    const auto& epochs = r->history.epochs;
    ASSERT_EQ(epochs.size(), 4u);
    EXPECT_LT(epochs.back().at("loss"), 0.6 * epochs.front().at("loss"));
    for (const Tensor& p : r->params) EXPECT_EQ(p.dtype(), float32);
    EXPECT_NEAR(r->eval.at("accuracy"), fp32.eval.at("accuracy"), 0.04);
    EXPECT_GT(r->eval.at("accuracy"), 0.7);  // chance: 0.25
  }
  EXPECT_GT(fp32.eval.at("accuracy"), 0.7);
  // Eager and graph autocast: the same parameters, bit for bit.
  for (size_t i = 0; i < eager.params.size(); ++i)
    EXPECT_EQ(graph.params[i].to_vector<float>(), eager.params[i].to_vector<float>()) << i;
  EXPECT_EQ(graph.eval.at("loss"), eager.eval.at("loss"));
  // And not float32's (autocast did something).
  EXPECT_NE(eager.params[0].to_vector<float>(), fp32.params[0].to_vector<float>());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AutocastFit, ::testing::Values(bfloat16, float16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

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

// A CNN with batch norm (the Fashion-MNIST layout, small), graph mode: the training step
// (traced under the scope) and the eval step both run; with bit_exact the parameters and the
// validation loss equal eager autocast's bit for bit.
TEST(AutocastFitCnn, GraphModeWithBatchNorm) {
  Generator dgen(5);
  Tensor x = Tensor::randn({48, 1, 8, 8}, dgen);
  Tensor y = argmax(Tensor::randn({48, 3}, dgen), 1);
  std::vector<std::vector<Tensor>> params;
  std::vector<double> val_loss;
  for (int run = 0; run < 3; ++run) {
    // eager; graph with bit_exact (casts before every pass); graph without (the eval step
    // casts after batch-norm folding)
    const train::Execution mode = run == 0 ? train::Execution::eager : train::Execution::graph;
    Generator gen(6);
    auto net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dOptions{.padding = 1}, true, gen),
        std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::MaxPool2d>(nn::Pool2dOptions{.kernel = 2}),
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4 * 4 * 4, 3, true, gen)});
    optim::SGD opt(net->parameters(), 0.05, 0.9);
    data::DataLoader loader(x, y, 16, /*shuffle=*/false);
    data::DataLoader val(x, y, 24, /*shuffle=*/false);
    train::History h = train::fit(*net, train::cross_entropy_loss, opt, loader,
                                  {.epochs = 2,
                                   .mode = mode,
                                   .validation = &val,
                                   .bit_exact = run < 2,
                                   .progress = train::Progress::none,
                                   .autocast = bfloat16});
    val_loss.push_back(h.epochs.back().at("val_loss"));
    params.emplace_back();
    for (const Tensor& p : net->parameters()) params.back().push_back(p.clone());
  }
  for (size_t i = 0; i < params[0].size(); ++i)
    EXPECT_EQ(params[1][i].to_vector<float>(), params[0][i].to_vector<float>()) << i;
  EXPECT_EQ(val_loss[1], val_loss[0]);
  EXPECT_NEAR(val_loss[2], val_loss[0], 5e-2 * val_loss[0]);
}

// A whole training step on the GPU against the CPU: the Fashion-MNIST CNN (conv, batch norm,
// relu, max pool, dropout, linear, cross entropy, SGD with momentum) for three steps from the same
// weights, data and dropout seeds. Loss, every parameter and the batch-norm running
// statistics must agree. (SGD, not Adam: Adam divides by sqrt(v), so a gradient that is
// rounding noise, e.g. of a bias that batch norm cancels, moves a weight by ~lr either way;
// the Adam kernels are compared with the CPU on fixed gradients in shape_optim_test.)
#include <gtest/gtest.h>

#include "cuda_test_util.h"
#include "duet/models/fashion_cnn.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "test_util.h"

namespace duet {
namespace {

struct TrainRun {
  std::vector<double> losses;
  nn::StateDict state;
};

TrainRun train(Device device, const Tensor& x, const Tensor& y, int steps) {
  Generator gen(7);
  auto net = models::fashion_cnn(gen);
  net->to(device);
  optim::SGD opt(net->parameters(), 0.05, /*momentum=*/0.9);
  TrainRun r;
  manual_seed(11);  // dropout masks: the same seeds on both devices
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    Tensor loss = cross_entropy((*net)(x.to(device)), y.to(device));
    loss.backward();
    opt.step();
    r.losses.push_back(loss.item<double>());
  }
  r.state = net->state_dict();
  return r;
}

TEST(CudaTraining, FashionCnnStepsMatchCpu) {
  DUET_REQUIRE_CUDA();
  Generator gen(3);
  Tensor x = Tensor::randn({16, 1, 28, 28}, gen);
  Tensor y = Tensor::from_vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5}, {16});
  TrainRun host = train(cpu, x, y, 3);
  TrainRun dev = train(cuda, x, y, 3);
  ASSERT_EQ(host.losses.size(), dev.losses.size());
  for (size_t i = 0; i < host.losses.size(); ++i)
    EXPECT_NEAR(dev.losses[i], host.losses[i], 1e-4 * std::abs(host.losses[i])) << "step " << i;
  ASSERT_EQ(host.state.size(), dev.state.size());
  for (size_t i = 0; i < host.state.size(); ++i) {
    SCOPED_TRACE(host.state[i].first);
    EXPECT_EQ(dev.state[i].first, host.state[i].first);
    EXPECT_EQ(dev.state[i].second.device(), cuda);
    if (is_floating(host.state[i].second.dtype()))
      EXPECT_LE(test::max_rel_error(dev.state[i].second, host.state[i].second), 1e-4);
    else
      EXPECT_EQ(dev.state[i].second.to(cpu).to_vector<int64_t>(),
                host.state[i].second.to_vector<int64_t>());
  }
}

}  // namespace
}  // namespace duet

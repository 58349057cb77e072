// SyncBatchNorm2d and all_reduce_sum_autograd on 2 ranks (mpirun -np 2): outputs, running
// statistics, input gradients and, with DistributedDataParallel, SGD steps equal one process
// running BatchNorm2d on the concatenated batch (every rank computes that reference itself).
#include <cmath>
#include <vector>

#include "duet/distributed.h"
#include "duet/distributed/ddp.h"
#include "duet/duet.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "test_util.h"

using namespace duet;

namespace {

void ensure_init() {
  if (!distributed::is_initialized()) distributed::init({.timeout = std::chrono::seconds(60)});
}

constexpr int64_t kB = 3;  // per-rank batch (rank 1: kB + 1, so the counts differ)

int64_t rows(int r) {
  return r == 0 ? kB : kB + 1;
}
int64_t first_row(int r) {
  return r == 0 ? 0 : kB;
}

// Conv -> batch norm -> relu -> linear head, float64, the norm layer of type N.
template <class N>
struct Net : nn::Module {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<N> bn;
  std::shared_ptr<nn::Linear> fc;
  explicit Net(uint64_t seed) : Module("Net") {
    Generator g(seed);
    conv = register_module(
        "conv", std::make_shared<nn::Conv2d>(2, 3, 3, Conv2dOptions{.padding = 1}, true, g));
    bn = register_module("bn", std::make_shared<N>(3));
    fc = register_module("fc", std::make_shared<nn::Linear>(3 * 5 * 5, 4, true, g));
  }
  Tensor forward(const Tensor& x) override { return (*fc)(relu((*bn)((*conv)(x))).flatten(1)); }
};

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::abs(x[i] - y[i]));
  return d;
}

}  // namespace

TEST(SyncBatchNorm, AllReduceSumAutograd) {
  ensure_init();
  const double r = distributed::rank();
  Tensor x = Tensor::full({3}, r + 1, float64).requires_grad_();
  Tensor y = distributed::all_reduce_sum_autograd(x);  // 1 + 2 = 3 on both
  test::expect_values(y, {3, 3, 3});
  // Rank r's loss: (r + 1) * sum(y). d/dx of the sum of both ranks' losses = 1 + 2.
  sum(mul(y, r + 1)).backward();
  test::expect_values(x.grad(), {3, 3, 3});
}

TEST(SyncBatchNorm, MatchesBatchNormOnTheConcatenatedBatch) {
  ensure_init();
  const int r = distributed::rank();
  Generator g(5);
  Tensor all = Tensor::uniform({2 * kB + 1, 3, 5, 5}, -2, 3, g, float64);  // the global batch
  Tensor mine = all.slice(0, first_row(r), first_row(r) + rows(r)).contiguous();

  nn::SyncBatchNorm2d sbn(3);
  nn::BatchNorm2d bn(3);
  Tensor w = Tensor::uniform({3}, 0.5, 1.5, g, float64);
  for (nn::BatchNorm2d* m : std::initializer_list<nn::BatchNorm2d*>{&sbn, &bn}) {
    NoGradGuard no_grad;
    m->weight.copy_(w);
    m->bias.fill_(0.25);
  }
  // float32 parameters; the input in float32 too.
  Tensor xs = mine.to(float32).requires_grad_(), xa = all.to(float32).requires_grad_();
  Tensor ys = sbn(xs), ya = bn(xa);
  EXPECT_LE(max_abs_diff(ys, ya.slice(0, first_row(r), first_row(r) + rows(r))), 1e-5);
  EXPECT_LE(max_abs_diff(sbn.running_mean, bn.running_mean), 1e-6);
  EXPECT_LE(max_abs_diff(sbn.running_var, bn.running_var), 1e-6);
  // Gradients: the sum of the ranks' losses against the one loss on the whole batch.
  Tensor c = Tensor::uniform(ya.shape(), -1, 1, g, float32);
  sum(mul(ys, c.slice(0, first_row(r), first_row(r) + rows(r)))).backward();
  sum(mul(ya, c)).backward();
  EXPECT_LE(max_abs_diff(xs.grad(), xa.grad().slice(0, first_row(r), first_row(r) + rows(r))),
            1e-5);
  // weight / bias gradients: summed over the ranks they are the one process's.
  Tensor wg = sbn.weight.grad().contiguous();
  distributed::all_reduce(wg);
  EXPECT_LE(max_abs_diff(wg, bn.weight.grad()), 1e-4);
  // Evaluation: the running statistics, no communication.
  sbn.eval();
  bn.eval();
  EXPECT_LE(max_abs_diff(sbn(xs.detach()), bn(mine.to(float32))), 1e-5);
}

TEST(SyncBatchNorm, DdpStepsMatchOneProcess) {
  ensure_init();
  const int r = distributed::rank();
  auto model = std::make_shared<Net<nn::SyncBatchNorm2d>>(11);
  auto ref = std::make_shared<Net<nn::BatchNorm2d>>(11);
  distributed::DistributedDataParallel ddp(model, {.bucket_cap_mb = 1e-4});
  optim::SGD opt(model->parameters(), 0.05, 0.9);
  optim::SGD ref_opt(ref->parameters(), 0.05, 0.9);
  for (int s = 0; s < 4; ++s) {
    Generator g(100 + s);
    Tensor x = Tensor::uniform({2 * kB, 2, 5, 5}, -1, 1, g);
    Tensor y = Tensor::uniform({2 * kB}, 0, 3.99, g, float64).to(int64);
    opt.zero_grad();
    // Equal per-rank batches here: DDP averages the ranks' mean losses.
    cross_entropy(ddp(x.slice(0, r * kB, (r + 1) * kB)), y.slice(0, r * kB, (r + 1) * kB))
        .backward();
    opt.step();
    ref_opt.zero_grad();
    cross_entropy((*ref)(x), y).backward();
    ref_opt.step();
  }
  auto a = model->state_dict(), b = ref->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    if (a[i].second.dtype() == int64) continue;
    EXPECT_LE(max_abs_diff(a[i].second, b[i].second), 1e-5) << a[i].first;
  }
}

// DistributedDataParallel in eager mode on 2 ranks (mpirun -np 2): N optimizer steps with DDP
// at per-rank batch B give the parameters of one process training on the concatenated batch
// 2B (every rank computes that reference itself), for SGD and Adam, float32 and float64,
// several buckets (held back when they become ready out of order) or one, with and without
// overlap; rank 0's initial parameters are broadcast; an unused parameter; a parameter only
// one rank uses; no_sync accumulation; concrete all_reduce_gradients; a model that differs
// across ranks is an error on every rank.
#include <cmath>
#include <string>
#include <vector>

#include "duet/distributed.h"
#include "duet/distributed/ddp.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "test_util.h"

using namespace duet;
using distributed::DDPOptions;
using distributed::DistributedDataParallel;

namespace {

void ensure_init() {
  if (!distributed::is_initialized()) distributed::init({.timeout = std::chrono::seconds(60)});
}

constexpr int64_t kB = 4;  // per-rank batch
constexpr int64_t kClasses = 5;

// Two convolutions and a linear head on (N, 3, 8, 8), parameters in `dt`, from `seed`.
// head_first: the head is registered first, so with one parameter per bucket the buckets
// become ready out of order (backward reaches the head first). with_unused: a parameter
// forward never uses. rank_only >= 0: a parameter only that rank uses.
struct Net : nn::Module {
  Tensor c1w, c1b, c2w, c2b, fw, fb, unused, extra;
  int rank_only = -1;
  Net(DType dt, uint64_t seed, bool head_first = false, bool with_unused = false,
      int rank_only_ = -1, int64_t fc_in = 6 * 4 * 4)
      : Module("Net"), rank_only(rank_only_) {
    Generator g(seed);
    auto u = [&](const Shape& s, double a) { return Tensor::uniform(s, -a, a, g, dt); };
    auto head = [&] {
      fw = register_parameter("fc_weight", u({kClasses, fc_in}, 0.15));
      fb = register_parameter("fc_bias", u({kClasses}, 0.1));
    };
    if (head_first) head();
    c1w = register_parameter("conv1_weight", u({4, 3, 3, 3}, 0.3));
    c1b = register_parameter("conv1_bias", u({4}, 0.1));
    if (with_unused) unused = register_parameter("unused", u({7}, 1.0));
    c2w = register_parameter("conv2_weight", u({6, 4, 3, 3}, 0.25));
    c2b = register_parameter("conv2_bias", u({6}, 0.1));
    if (rank_only >= 0) extra = register_parameter("extra", u({kClasses}, 0.5));
    if (!head_first) head();
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = relu(conv2d(x, c1w, c1b, {.padding = 1}));
    h = relu(conv2d(h, c2w, c2b, {.stride = 2, .padding = 1}));  // (N, 6, 4, 4)
    Tensor logits = add(matmul(h.flatten(1), fw.transpose(0, 1)), fb);
    if (rank_only >= 0 && distributed::rank() == rank_only) logits = add(logits, extra);
    return logits;
  }
};

// The global batch of step `step`: (2B, 3, 8, 8) and labels (2B); the same on every rank.
std::pair<Tensor, Tensor> global_batch(int step, DType dt) {
  Generator g(1000 + static_cast<uint64_t>(step));
  Tensor x = Tensor::uniform({2 * kB, 3, 8, 8}, -1, 1, g, dt);
  Tensor y = Tensor::uniform({2 * kB}, 0, kClasses - 0.01, g, float64).to(int64);
  return {x, y};
}

std::pair<Tensor, Tensor> my_shard(const std::pair<Tensor, Tensor>& b) {
  int64_t r = distributed::rank();
  return {b.first.slice(0, r * kB, (r + 1) * kB), b.second.slice(0, r * kB, (r + 1) * kB)};
}

std::unique_ptr<optim::Optimizer> make_opt(const std::string& kind, std::vector<Tensor> p) {
  if (kind == "sgd") return std::make_unique<optim::SGD>(std::move(p), 0.1, 0.9);
  return std::make_unique<optim::Adam>(std::move(p), 0.01);
}

// max over elements |a - b| / max(max |b|, tiny), per parameter; the worst parameter.
double max_relative(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    std::vector<double> x = a[i].to_vector<double>(), y = b[i].to_vector<double>();
    double scale = 1e-30, diff = 0;
    for (size_t k = 0; k < x.size(); ++k) {
      scale = std::max(scale, std::abs(y[k]));
      diff = std::max(diff, std::abs(x[k] - y[k]));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

// Every rank's copy of t, concatenated: (world * numel).
std::vector<double> gathered(const Tensor& t) {
  return distributed::all_gather(t.detach().contiguous().reshape({-1})).to_vector<double>();
}

bool same_on_every_rank(const Tensor& t) {
  std::vector<double> g = gathered(t);
  size_t n = g.size() / 2;
  for (size_t k = 0; k < n; ++k)
    if (g[k] != g[n + k]) return false;
  return true;
}

struct Config {
  std::string opt = "sgd";
  DType dt = float32;
  double cap_mb = 25;
  bool overlap = true;
  bool head_first = false;
  bool with_unused = false;
  bool as_view = false;  // DDPOptions::gradient_as_bucket_view
};

// kSteps steps with DDP (rank r's model built from seed 100 + r) against the reference: one
// process on the whole batch from rank 0's seed. Returns the worst relative difference.
double ddp_vs_reference(const Config& c, int steps = 5) {
  ensure_init();
  auto model = std::make_shared<Net>(c.dt, 100 + distributed::rank(), c.head_first, c.with_unused);
  DistributedDataParallel ddp(
      model,
      {.bucket_cap_mb = c.cap_mb, .overlap = c.overlap, .gradient_as_bucket_view = c.as_view});
  auto ref = std::make_shared<Net>(c.dt, 100, c.head_first, c.with_unused);
  auto opt = make_opt(c.opt, model->parameters());
  auto ref_opt = make_opt(c.opt, ref->parameters());
  EXPECT_EQ(max_relative(model->parameters(), ref->parameters()), 0.0);  // broadcast
  for (int s = 0; s < steps; ++s) {
    auto batch = global_batch(s, c.dt);
    auto [x, y] = my_shard(batch);
    opt->zero_grad();
    cross_entropy(ddp(x), y).backward();
    opt->step();
    ref_opt->zero_grad();
    cross_entropy((*ref)(batch.first), batch.second).backward();
    ref_opt->step();
  }
  for (const Tensor& p : model->parameters()) EXPECT_TRUE(same_on_every_rank(p));
  if (c.with_unused) {  // zero gradients every step: never moves (SGD), but has a .grad
    EXPECT_TRUE(model->unused.grad().defined());
    EXPECT_EQ(max_relative({model->unused}, {ref->unused}), 0.0);
  }
  return max_relative(model->parameters(), ref->parameters());
}

}  // namespace

TEST(DDPEager, BroadcastsRankZerosParameters) {
  ensure_init();
  auto model = std::make_shared<Net>(float32, 100 + distributed::rank());
  auto rank0 = std::make_shared<Net>(float32, 100);
  EXPECT_FALSE(same_on_every_rank(model->c1w));  // different seeds per rank
  DistributedDataParallel ddp(model);
  for (const Tensor& p : model->parameters()) EXPECT_TRUE(same_on_every_rank(p));
  EXPECT_EQ(max_relative(model->parameters(), rank0->parameters()), 0.0);
  // The wrapper's own parameters are the module's, under "module.".
  auto names = ddp.named_parameters();
  ASSERT_EQ(names.size(), 6u);
  EXPECT_EQ(names[0].first, "module.conv1_weight");
  EXPECT_TRUE(names[0].second.is_same(model->c1w));
}

TEST(DDPEager, SgdMatchesOneProcessOnTheUnionFloat32) {
  EXPECT_LE(ddp_vs_reference({.opt = "sgd"}), 1e-6);                  // one bucket
  EXPECT_LE(ddp_vs_reference({.opt = "sgd", .cap_mb = 1e-6}), 1e-6);  // one per parameter
  EXPECT_LE(ddp_vs_reference({.opt = "sgd", .cap_mb = 0.002, .head_first = true}), 1e-6);
}

TEST(DDPEager, AdamMatchesOneProcessOnTheUnionFloat32) {
  EXPECT_LE(ddp_vs_reference({.opt = "adam"}), 1e-6);
  // Adam divides each gradient element by its own running magnitude, so an element that is
  // tiny next to its tensor's largest keeps float32's rounding of the two summation orders
  // (B + B against 2B) at its own scale: ~1e-5 of the tensor here. The same configuration in
  // float64 (Float64AndNoOverlap) agrees to 1e-12.
  EXPECT_LE(ddp_vs_reference({.opt = "adam", .cap_mb = 1e-6, .head_first = true}), 1e-4);
}

TEST(DDPEager, Float64AndNoOverlap) {
  EXPECT_LE(ddp_vs_reference({.opt = "sgd", .dt = float64, .cap_mb = 1e-6}), 1e-12);
  EXPECT_LE(ddp_vs_reference({.opt = "adam", .dt = float64, .cap_mb = 0.002}), 1e-12);
  EXPECT_LE(ddp_vs_reference({.opt = "adam", .dt = float64, .cap_mb = 1e-6, .head_first = true}),
            1e-12);
  EXPECT_LE(ddp_vs_reference({.opt = "sgd", .cap_mb = 1e-6, .overlap = false}), 1e-6);
}

TEST(DDPEager, GradientAsBucketView) {
  {
    ensure_init();
    auto model = std::make_shared<Net>(float32, 3);
    DistributedDataParallel ddp(model, {.gradient_as_bucket_view = true});
    auto [x, y] = my_shard(global_batch(0, float32));
    cross_entropy(ddp(x), y).backward();
    // One bucket in reverse registration order: conv1_weight right after conv1_bias.
    EXPECT_EQ(static_cast<const float*>(model->c1w.grad().data_ptr()),
              static_cast<const float*>(model->c1b.grad().data_ptr()) + 4);
  }
  EXPECT_LE(ddp_vs_reference({.opt = "sgd", .cap_mb = 0.002, .as_view = true}), 1e-6);
  EXPECT_LE(ddp_vs_reference({.opt = "adam", .dt = float64, .with_unused = true, .as_view = true}),
            1e-12);
}

TEST(DDPEager, UnusedParameter) {
  EXPECT_LE(ddp_vs_reference({.opt = "sgd", .with_unused = true}), 1e-6);
  EXPECT_LE(ddp_vs_reference({.opt = "sgd", .cap_mb = 1e-6, .with_unused = true}), 1e-6);
}

TEST(DDPEager, ParameterOnlyOneRankUses) {
  ensure_init();
  // Rank 0 adds `extra` to its logits, rank 1 does not: both end with half rank 0's gradient.
  auto model = std::make_shared<Net>(float64, 7, false, false, /*rank_only=*/0);
  DistributedDataParallel ddp(model, {.bucket_cap_mb = 1e-6});
  auto batch = global_batch(0, float64);
  auto [x, y] = my_shard(batch);
  cross_entropy(ddp(x), y).backward();
  Tensor g = model->extra.grad();
  ASSERT_TRUE(g.defined());
  EXPECT_TRUE(same_on_every_rank(g));
  // Rank 0's local gradient of extra: d/d extra mean CE = mean over rows of (softmax - onehot).
  Net local(float64, 7, false, false, 0);
  local.rank_only = -1;  // forward without extra: it is added by hand below
  Tensor x0 = batch.first.slice(0, 0, kB), y0 = batch.second.slice(0, 0, kB);
  Tensor e = local.extra.detach().clone().requires_grad_();
  Tensor logits = add(local(x0), e);
  cross_entropy(logits, y0).backward();
  test::expect_close(g, mul(e.grad(), 0.5), 1e-12, 1e-15);
}

TEST(DDPEager, NoSyncAccumulatesThenReducesTheSum) {
  ensure_init();
  for (const char* kind : {"sgd", "adam"}) {
    auto model = std::make_shared<Net>(float64, 100 + distributed::rank());
    DistributedDataParallel ddp(model, {.bucket_cap_mb = 0.002});
    auto ref = std::make_shared<Net>(float64, 100);
    auto opt = make_opt(kind, model->parameters());
    auto ref_opt = make_opt(kind, ref->parameters());
    for (int s = 0; s < 3; ++s) {
      auto batch = global_batch(s, float64);
      auto [x, y] = my_shard(batch);
      opt->zero_grad();
      {
        auto guard = ddp.no_sync();  // first half: local only
        mul(cross_entropy(ddp(x.slice(0, 0, kB / 2)), y.slice(0, 0, kB / 2)), 0.5).backward();
      }
      EXPECT_FALSE(same_on_every_rank(model->c1w.grad()));  // not communicated
      mul(cross_entropy(ddp(x.slice(0, kB / 2, kB)), y.slice(0, kB / 2, kB)), 0.5).backward();
      EXPECT_TRUE(same_on_every_rank(model->c1w.grad()));
      opt->step();
      ref_opt->zero_grad();
      cross_entropy((*ref)(batch.first), batch.second).backward();
      ref_opt->step();
    }
    EXPECT_LE(max_relative(model->parameters(), ref->parameters()), 1e-12) << kind;
  }
}

TEST(DDPEager, BucketsAndTimings) {
  ensure_init();
  auto model = std::make_shared<Net>(float32, 3, /*head_first=*/true);
  DistributedDataParallel ddp(model, {.bucket_cap_mb = 1e-6});
  const auto& buckets = ddp.reducer().buckets();
  ASSERT_EQ(buckets.size(), 6u);  // one per parameter, reverse registration order
  EXPECT_EQ(buckets[0].params, (std::vector<int64_t>{5}));
  EXPECT_EQ(buckets[5].params, (std::vector<int64_t>{0}));
  auto batch = global_batch(0, float32);
  auto [x, y] = my_shard(batch);
  cross_entropy(ddp(x), y).backward();
  auto t = ddp.reducer().last_timings();
  ASSERT_EQ(t.size(), 6u);
  double end = ddp.reducer().last_backward_seconds();
  for (size_t b = 0; b < t.size(); ++b) {
    EXPECT_LE(t[b].ready, t[b].started) << b;
    EXPECT_LE(t[b].started, t[b].completed) << b;
    EXPECT_LE(t[b].ready, end) << b;
    if (b > 0) {
      EXPECT_LE(t[b - 1].started, t[b].started) << b;  // launched in bucket order
    }
  }
  // The head (buckets 4 and 5) is ready first, but waits for buckets 0-3 (the convolutions).
  EXPECT_LT(t[5].ready, t[0].ready);
  EXPECT_GE(t[5].started, t[0].started);
}

TEST(DDPEager, AllReduceGradientsConcrete) {
  ensure_init();
  auto model = std::make_shared<Net>(float64, 5);
  distributed::GradientReducer reducer(model->parameters(), {.bucket_cap_mb = 0.002});
  std::vector<Tensor> grads;
  const double r = distributed::rank();
  for (const Tensor& p : model->parameters())
    grads.push_back(Tensor::full(p.shape(), r + 1, float64));
  grads[2] = Tensor();  // undefined: zeros
  auto out = reducer.all_reduce_gradients(grads);
  ASSERT_EQ(out.size(), grads.size());
  for (size_t i = 0; i < out.size(); ++i) {
    std::vector<double> v = out[i].to_vector<double>();
    double expect = i == 2 ? 0.0 : 1.5;  // (1 + 2) / 2
    for (double e : v) ASSERT_EQ(e, expect) << i;
  }
}

TEST(DDPEager, ModelsThatDifferAcrossRanksAreAnErrorOnEveryRank) {
  ensure_init();
  // Rank 1's head takes one more input feature.
  auto model =
      std::make_shared<Net>(float32, 1, false, false, -1, distributed::rank() == 1 ? 97 : 96);
  EXPECT_DUET_ERROR(DistributedDataParallel ddp(model),
                    "broadcast_module: entry 4 of 6: rank 0 has 'fc_weight' float32 (5, 96) but "
                    "rank 1 has 'fc_weight' float32 (5, 97)");
  // A different bucket layout (the reducer alone, a parameter list that differs).
  std::vector<Tensor> params = model->parameters();
  if (distributed::rank() == 1) params.pop_back();
  EXPECT_DUET_ERROR(distributed::GradientReducer reducer(params),
                    "DistributedDataParallel: gradient buckets: rank 0 has 7 layout entries "
                    "(buckets + parameters) but rank 1 has 6 layout entries");
  // The group is still usable afterwards.
  Tensor t = Tensor::full({2}, 1.0, float64);
  distributed::all_reduce(t);
  test::expect_values(t, {2, 2});
}

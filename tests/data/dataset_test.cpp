// Dataset, TensorDataset, a user dataset, and DataLoader over them: worker counts (0, 1, 3)
// give identical batches with and without a random transform; prefetch; errors thrown inside
// get() or a transform reach next(); state() / set_state() continue an epoch exactly.
#include <atomic>
#include <chrono>
#include <thread>

#include "duet/data.h"
#include "test_util.h"

using namespace duet;
using namespace duet::data;

namespace {

// x: (N, 1, 4, 4) with sample i's pixels i * 16 + k; y: i.
TensorDataset toy(int64_t n) {
  std::vector<float> xv;
  std::vector<int64_t> yv;
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 16; ++k) xv.push_back(static_cast<float>(i * 16 + k));
    yv.push_back(i);
  }
  return TensorDataset(Tensor::from_vector(xv, {n, 1, 4, 4}), Tensor::from_vector(yv, {n}));
}

// Examples made on demand, slowly and in a varying amount of time (workers finish out of
// order).
struct Slow : Dataset {
  int64_t n;
  explicit Slow(int64_t n_) : n(n_) {}
  int64_t size() const override { return n; }
  Example get(int64_t i) const override {
    DUET_CHECK(i >= 0 && i < n, "Slow: index ", i);
    std::this_thread::sleep_for(std::chrono::microseconds((i * 37) % 200));
    return {Tensor::full({1, 3, 3}, static_cast<double>(i)), Tensor::scalar(i, int64)};
  }
};

struct Epoch {
  std::vector<std::vector<float>> xs;
  std::vector<std::vector<int64_t>> ys;
  bool operator==(const Epoch&) const = default;
};

Epoch run(DataLoader& loader) {
  Epoch e;
  for (auto& b : loader) {
    e.xs.push_back(b.x.to_vector<float>());
    e.ys.push_back(b.y.to_vector<int64_t>());
  }
  return e;
}

Transform augment() {
  return Compose({RandomCrop(4, 1), RandomHorizontalFlip(0.5)});
}

}  // namespace

TEST(TensorDataset, SizeGetAndRows) {
  TensorDataset ds = toy(5);
  EXPECT_EQ(ds.size(), 5);
  Example ex = ds.get(3);
  EXPECT_EQ(ex.x.shape(), (Shape{1, 4, 4}));
  EXPECT_EQ(ex.y.shape(), (Shape{}));
  EXPECT_EQ(ex.y.item<int64_t>(), 3);
  EXPECT_EQ(ex.x.to_vector<float>()[5], 53.0f);
  ex.x.fill_(0);  // a copy: the dataset is unchanged
  EXPECT_EQ(ds.get(3).x.to_vector<float>()[5], 53.0f);
  ASSERT_NE(ds.rows(), nullptr);
  EXPECT_DUET_ERROR(ds.get(5), "TensorDataset::get", "index 5", "5 examples");
  EXPECT_DUET_ERROR(TensorDataset(Tensor::zeros({3, 2}), Tensor::zeros({4})), "TensorDataset",
                    "(3, 2)", "(4,)");
  EXPECT_DUET_ERROR(TensorDataset(Tensor::scalar(1), Tensor::zeros({1})), "TensorDataset", "rank");
}

TEST(DataLoaderWorkers, SameBatchesFor0_1_3Workers) {
  const TensorDataset ds = toy(53);
  for (bool with_transform : {false, true}) {
    std::vector<std::vector<Epoch>> runs;
    for (int64_t workers : {0, 1, 3}) {
      DataLoader loader(ds, {.batch_size = 8,
                             .shuffle = true,
                             .seed = 9,
                             .num_workers = workers,
                             .prefetch = 2,
                             .transform = with_transform ? augment() : Transform()});
      EXPECT_EQ(loader.num_batches(), 7);
      runs.push_back({run(loader), run(loader)});
    }
    EXPECT_EQ(runs[0], runs[1]) << with_transform;
    EXPECT_EQ(runs[0], runs[2]) << with_transform;
    EXPECT_NE(runs[0][0], runs[0][1]);  // epochs differ
    // The labels follow the order, with or without the transform.
    DataLoader plain(ds, {.batch_size = 8, .shuffle = true, .seed = 9});
    std::vector<int64_t> order = plain.order(0);
    std::vector<int64_t> labels;
    for (auto& ys : runs[2][0].ys) labels.insert(labels.end(), ys.begin(), ys.end());
    EXPECT_EQ(labels, order);
  }
}

TEST(DataLoaderWorkers, TransformDependsOnSeedEpochAndIndexOnly) {
  const TensorDataset ds = toy(10);
  DataLoader loader(ds, {.batch_size = 10, .shuffle = true, .seed = 4, .num_workers = 2,
                         .transform = augment()});
  auto b = loader.next();
  ASSERT_TRUE(b.has_value());
  std::vector<int64_t> y = b->y.to_vector<int64_t>();
  std::vector<float> x = b->x.to_vector<float>();
  Transform t = augment();
  for (size_t k = 0; k < y.size(); ++k) {
    Generator gen(loader.sample_seed(0, y[k]));
    std::vector<float> want = t(ds.get(y[k]).x, gen).to_vector<float>();
    EXPECT_EQ(std::vector<float>(x.begin() + 16 * k, x.begin() + 16 * (k + 1)), want) << k;
  }
  EXPECT_NE(loader.sample_seed(0, 1), loader.sample_seed(1, 1));
  EXPECT_NE(loader.sample_seed(0, 1), loader.sample_seed(0, 2));
}

TEST(DataLoaderWorkers, UserDatasetStackedInOrder) {
  auto ds = std::make_shared<Slow>(23);
  for (int64_t workers : {0, 4}) {
    DataLoader loader(ds, {.batch_size = 5, .shuffle = false, .num_workers = workers,
                           .prefetch = 3});
    int64_t expect = 0, batches = 0;
    for (auto& b : loader) {
      EXPECT_EQ(b.index, batches++);
      EXPECT_EQ(b.x.shape()[1], 1);
      EXPECT_EQ(b.x.dim(), 4);
      EXPECT_EQ(b.y.dim(), 1);
      for (int64_t y : b.y.to_vector<int64_t>()) EXPECT_EQ(y, expect++);
      EXPECT_EQ(b.x.to_vector<float>()[0], static_cast<float>(b.y.to_vector<int64_t>()[0]));
    }
    EXPECT_EQ(expect, 23);
    EXPECT_EQ(batches, 5);
  }
}

TEST(DataLoaderWorkers, ErrorsReachNextAtTheirBatch) {
  struct Bad : Dataset {
    int64_t size() const override { return 12; }
    Example get(int64_t i) const override {
      DUET_CHECK(i != 7, "Bad: sample ", i, " is broken");
      return {Tensor::zeros({2}), Tensor::scalar(0, int64)};
    }
  };
  for (int64_t workers : {0, 2}) {
    DataLoader loader(std::make_shared<Bad>(), {.batch_size = 3, .shuffle = false,
                                                .num_workers = workers});
    EXPECT_TRUE(loader.next().has_value());
    EXPECT_TRUE(loader.next().has_value());
    EXPECT_DUET_ERROR(loader.next(), "Bad: sample 7 is broken");  // batch 2 holds 6, 7, 8
    EXPECT_TRUE(loader.next().has_value());  // a new epoch starts
    EXPECT_EQ(loader.epoch(), 1);
  }
  struct Ragged : Dataset {
    int64_t size() const override { return 4; }
    Example get(int64_t i) const override {
      return {Tensor::zeros({i == 2 ? 3 : 2}), Tensor::scalar(0, int64)};
    }
  };
  DataLoader ragged(std::make_shared<Ragged>(), {.batch_size = 4, .shuffle = false});
  EXPECT_DUET_ERROR(ragged.next(), "DataLoader: sample 2's x has shape (3,)",
                    "sample 0's has (2,)");
  const TensorDataset ds = toy(4);
  EXPECT_DUET_ERROR(DataLoader(ds, {.batch_size = 2, .num_workers = -1}), "num_workers = -1");
  EXPECT_DUET_ERROR(DataLoader(ds, {.batch_size = 2, .prefetch = 0}), "prefetch = 0");
  EXPECT_DUET_ERROR(DataLoader(std::shared_ptr<const Dataset>(), {}), "DataLoader",
                    "dataset is null");
}

TEST(DataLoaderState, ContinuesAnEpochExactly) {
  const TensorDataset ds = toy(40);
  DataLoaderOptions o{.batch_size = 6, .shuffle = true, .seed = 21, .num_workers = 2,
                      .transform = augment()};
  DataLoader a(ds, o);
  run(a);                       // epoch 0
  a.next();                     // epoch 1, batch 0
  a.next();                     // batch 1
  DataLoaderState st = a.state();
  EXPECT_EQ(st.epoch, 1);
  EXPECT_EQ(st.next_batch, 2);
  EXPECT_TRUE(st.in_epoch);
  std::vector<std::vector<float>> rest;
  while (auto b = a.next()) rest.push_back(b->x.to_vector<float>());
  Epoch next_a = run(a);  // epoch 2

  o.seed = 999;  // the state carries the seed
  o.num_workers = 0;
  DataLoader b(ds, o);
  b.set_state(st);
  std::vector<std::vector<float>> rest_b;
  for (auto& batch : b) rest_b.push_back(batch.x.to_vector<float>());  // continues epoch 1
  EXPECT_EQ(rest_b, rest);
  EXPECT_EQ(run(b), next_a);

  // Every batch taken but the end not seen yet: the epoch counts as done.
  DataLoader d(ds, o);
  for (int64_t i = 0; i < d.num_batches(); ++i) d.next();
  EXPECT_FALSE(d.state().in_epoch);
  EXPECT_EQ(d.state().epoch, 0);
  // A state between epochs: the next loop starts the following epoch.
  DataLoaderState done = a.state();
  EXPECT_FALSE(done.in_epoch);
  EXPECT_EQ(done.epoch, 2);
  DataLoader c(ds, o);
  c.set_state(done);
  c.next();
  EXPECT_EQ(c.epoch(), 3);

  DataLoaderState other = st;
  other.num_samples = 41;
  EXPECT_DUET_ERROR(c.set_state(other), "set_state", "41 samples", "has 40");
  other = st;
  other.batch_size = 5;
  EXPECT_DUET_ERROR(c.set_state(other), "set_state", "batch_size 5");
  other = st;
  other.next_batch = 8;
  EXPECT_DUET_ERROR(c.set_state(other), "set_state", "next_batch = 8", "0 to 7");
  EXPECT_EQ(c.epoch(), 3);  // unchanged by the failed calls
}

TEST(DataLoaderWorkers, PrefetchBoundsWorkAhead) {
  struct Counting : Dataset {
    mutable std::atomic<int64_t> made{0};
    int64_t size() const override { return 100; }
    Example get(int64_t) const override {
      ++made;
      return {Tensor::zeros({1}), Tensor::scalar(0, int64)};
    }
  };
  auto ds = std::make_shared<Counting>();
  DataLoader loader(ds, {.batch_size = 1, .shuffle = false, .num_workers = 2, .prefetch = 3});
  loader.next();
  // Give the workers time to run ahead (the bound below holds whatever the timing).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // 1 consumed + at most 2 workers * 3 ahead
  EXPECT_LE(ds->made.load(), 7);
  EXPECT_GE(ds->made.load(), 1);
}

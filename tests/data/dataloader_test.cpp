// DataLoader: determinism, coverage, partial batches, per-epoch orders, restarts, errors.
#include <algorithm>
#include <filesystem>
#include <set>

#include "duet/data.h"
#include "test_util.h"

using namespace duet;

namespace {

// x row i = (i, i + 0.5) as (N, 1, 1, 2); y = i.
struct Toy {
  Tensor x, y;
  explicit Toy(int64_t n) {
    std::vector<float> xv;
    std::vector<int64_t> yv;
    for (int64_t i = 0; i < n; ++i) {
      xv.push_back(static_cast<float>(i));
      xv.push_back(static_cast<float>(i) + 0.5f);
      yv.push_back(i);
    }
    x = Tensor::from_vector(xv, {n, 1, 1, 2});
    y = Tensor::from_vector(yv, {n});
  }
};

// Labels of one epoch, in order; checks that each batch's x rows match its y.
std::vector<int64_t> run_epoch(data::DataLoader& loader, std::vector<int64_t>* sizes = nullptr) {
  std::vector<int64_t> seen;
  int64_t index = 0;
  for (auto& b : loader) {
    EXPECT_EQ(b.index, index++);
    EXPECT_EQ(b.x.dim(), 4);
    EXPECT_EQ(b.x.size(0), b.y.size(0));
    std::vector<float> xv = b.x.to_vector<float>();
    std::vector<int64_t> yv = b.y.to_vector<int64_t>();
    for (size_t i = 0; i < yv.size(); ++i) {
      EXPECT_EQ(xv[2 * i], static_cast<float>(yv[i]));
      EXPECT_EQ(xv[2 * i + 1], static_cast<float>(yv[i]) + 0.5f);
      seen.push_back(yv[i]);
    }
    if (sizes) sizes->push_back(b.y.size(0));
  }
  return seen;
}

}  // namespace

TEST(DataLoader, EverySampleOncePerEpochWithPartialLastBatch) {
  Toy toy(103);
  data::DataLoader loader(toy.x, toy.y, 10, /*shuffle=*/true, /*seed=*/1);
  EXPECT_EQ(loader.num_batches(), 11);
  EXPECT_EQ(loader.num_samples(), 103);
  std::vector<int64_t> sizes;
  std::vector<int64_t> seen = run_epoch(loader, &sizes);
  ASSERT_EQ(seen.size(), 103u);
  EXPECT_EQ(sizes.size(), 11u);
  EXPECT_EQ(sizes.back(), 3);
  for (size_t i = 0; i + 1 < sizes.size(); ++i) EXPECT_EQ(sizes[i], 10);
  std::vector<int64_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 103; ++i) EXPECT_EQ(sorted[i], i);
  EXPECT_NE(seen, sorted);  // shuffled
  EXPECT_EQ(loader.epoch(), 0);
}

TEST(DataLoader, DropLast) {
  Toy toy(103);
  data::DataLoader loader(toy.x, toy.y, 10, true, 1, /*drop_last=*/true);
  EXPECT_EQ(loader.num_batches(), 10);
  std::vector<int64_t> sizes;
  std::vector<int64_t> seen = run_epoch(loader, &sizes);
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 100u);
  for (int64_t s : sizes) EXPECT_EQ(s, 10);
}

TEST(DataLoader, SameSeedSameOrdersDifferentEpochsDiffer) {
  Toy toy(50);
  data::DataLoader a(toy.x, toy.y, 8, true, 42), b(toy.x, toy.y, 8, true, 42);
  data::DataLoader c(toy.x, toy.y, 8, true, 43);
  std::vector<int64_t> a0 = run_epoch(a), a1 = run_epoch(a), a2 = run_epoch(a);
  std::vector<int64_t> b0 = run_epoch(b), b1 = run_epoch(b);
  std::vector<int64_t> c0 = run_epoch(c);
  EXPECT_EQ(a0, b0);
  EXPECT_EQ(a1, b1);
  EXPECT_NE(a0, a1);
  EXPECT_NE(a1, a2);
  EXPECT_NE(a0, c0);
  EXPECT_EQ(a.epoch(), 2);
  EXPECT_EQ(a0, a.order(0));
  EXPECT_EQ(a2, a.order(2));
  // Restarting an epoch explicitly reproduces it.
  a.start_epoch(1);
  EXPECT_EQ(run_epoch(a), a1);
}

TEST(DataLoader, NoShuffleIsSequential) {
  Toy toy(7);
  data::DataLoader loader(toy.x, toy.y, 3, /*shuffle=*/false);
  EXPECT_EQ(run_epoch(loader), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(run_epoch(loader), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(DataLoader, NextByHandAndAbandonedEpochs) {
  Toy toy(20);
  data::DataLoader loader(toy.x, toy.y, 6, true, 5);
  // next(): epoch 0 starts implicitly; nullopt at its end; then epoch 1.
  std::vector<int64_t> e0;
  while (auto b = loader.next())
    for (int64_t v : b->y.to_vector<int64_t>()) e0.push_back(v);
  EXPECT_EQ(e0, loader.order(0));
  auto first = loader.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(loader.epoch(), 1);
  EXPECT_EQ(first->index, 0);
  // Breaking out of an epoch and iterating again starts a fresh one (epoch 2), dropping any
  // prefetched batches of epoch 1.
  for (auto& b : loader) {
    (void)b;
    break;
  }
  EXPECT_EQ(loader.epoch(), 2);
  EXPECT_EQ(run_epoch(loader), loader.order(3));
  // Batches are independent copies: keeping one does not alias the dataset.
  auto kept = loader.next();
  ASSERT_TRUE(kept);
  EXPECT_NE(kept->x.data_ptr(), toy.x.data_ptr());
}

TEST(DataLoader, ManyLoadersShutDownCleanly) {
  // Destroying loaders mid-epoch (worker blocked on a full queue) must not hang.
  Toy toy(1000);
  for (int i = 0; i < 20; ++i) {
    data::DataLoader loader(toy.x, toy.y, 7, true, i);
    if (i % 2) loader.next();
  }
  SUCCEED();
}

TEST(DataLoader, Errors) {
  Toy toy(10);
  EXPECT_DUET_ERROR(data::DataLoader(toy.x, toy.y, 0), "DataLoader", "batch_size = 0");
  EXPECT_DUET_ERROR(data::DataLoader(toy.x, Tensor::zeros({9}, int64), 2), "DataLoader",
                    "(10, 1, 1, 2)", "(9,)");
  EXPECT_DUET_ERROR(data::DataLoader(Tensor::scalar(1.0), toy.y, 2), "DataLoader", "rank");
}

TEST(DataLoader, FashionMnistBatches) {
  if (!std::filesystem::is_directory(data::kFashionMnistDir)) GTEST_SKIP();
  data::IdxDataset test = data::load_fashion_mnist(data::kFashionMnistDir, false);
  data::DataLoader loader(test.images(), test.labels(), 256, true, 0);
  EXPECT_EQ(loader.num_batches(), 40);
  int64_t total = 0;
  for (auto& b : loader) {
    EXPECT_EQ(b.x.shape(), (Shape{b.y.size(0), 1, 28, 28}));
    total += b.y.size(0);
  }
  EXPECT_EQ(total, 10000);
}

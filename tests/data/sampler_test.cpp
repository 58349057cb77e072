// DistributedSampler and DataLoader's sampler option: disjoint shards that cover the dataset
// (padding) or drop the rest, the same permutation on every rank per epoch, a new one per
// epoch, equal lengths, argument errors, and exact loader state with a sampler.
#include <algorithm>
#include <memory>
#include <numeric>
#include <set>

#include "duet/data.h"
#include "test_util.h"

using namespace duet;

namespace {

// Every rank's indices of `epoch` for N samples over W ranks.
std::vector<std::vector<int64_t>> shards(int64_t n, int64_t w, int64_t epoch,
                                         const data::DistributedSamplerOptions& o) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t r = 0; r < w; ++r) out.push_back(data::DistributedSampler(n, w, r, o).indices(epoch));
  return out;
}

// (N, 1) float x = i, int64 y = i.
struct Rows {
  Tensor x, y;
  explicit Rows(int64_t n) {
    std::vector<float> xv;
    std::vector<int64_t> yv;
    for (int64_t i = 0; i < n; ++i) {
      xv.push_back(static_cast<float>(i));
      yv.push_back(i);
    }
    x = Tensor::from_vector(xv, {n, 1});
    y = Tensor::from_vector(yv, {n});
  }
};

// The labels of the rest of the current epoch (by next(): no new epoch is started).
std::vector<int64_t> rest_of_epoch(data::DataLoader& loader) {
  std::vector<int64_t> seen;
  while (auto b = loader.next())
    for (int64_t v : b->y.to_vector<int64_t>()) seen.push_back(v);
  return seen;
}

std::vector<int64_t> labels_of_epoch(data::DataLoader& loader) {
  std::vector<int64_t> seen;
  for (auto& b : loader) {
    std::vector<float> xv = b.x.to_vector<float>();
    std::vector<int64_t> yv = b.y.to_vector<int64_t>();
    for (size_t i = 0; i < yv.size(); ++i) {
      EXPECT_EQ(xv[i], static_cast<float>(yv[i]));
      seen.push_back(yv[i]);
    }
  }
  return seen;
}

}  // namespace

TEST(DistributedSampler, PaddedShardsAreDisjointAndCoverTheDataset) {
  // 10 samples over 3 ranks: 4 each, 12 positions, the epoch's first 2 indices repeated.
  data::DistributedSamplerOptions o{.shuffle = true, .seed = 7};
  auto s = shards(10, 3, 0, o);
  std::vector<int64_t> all;
  for (const auto& r : s) {
    EXPECT_EQ(r.size(), 4u);
    all.insert(all.end(), r.begin(), r.end());
  }
  std::set<int64_t> distinct(all.begin(), all.end());
  EXPECT_EQ(distinct.size(), 10u);  // every sample seen
  EXPECT_EQ(*distinct.begin(), 0);
  EXPECT_EQ(*distinct.rbegin(), 9);
  // Positions 0, 3, 6, 9 / 1, 4, 7, 10 / 2, 5, 8, 11 of the padded permutation: the two
  // extra positions (10, 11) repeat positions 0 and 1, i.e. rank 0's and rank 1's first.
  EXPECT_EQ(s[1][3], s[0][0]);
  EXPECT_EQ(s[2][3], s[1][0]);
  // Without the padding, the shards are disjoint.
  std::vector<int64_t> unpadded;
  for (int64_t r = 0; r < 3; ++r) unpadded.insert(unpadded.end(), s[r].begin(), s[r].end() - (r > 0));
  EXPECT_EQ(std::set<int64_t>(unpadded.begin(), unpadded.end()).size(), 10u);
  EXPECT_EQ(unpadded.size(), 10u);
}

TEST(DistributedSampler, DropLastCutsToEqualDisjointShards) {
  data::DistributedSamplerOptions o{.shuffle = true, .seed = 3, .drop_last = true};
  auto s = shards(10, 3, 2, o);
  std::set<int64_t> distinct;
  for (const auto& r : s) {
    EXPECT_EQ(r.size(), 3u);
    distinct.insert(r.begin(), r.end());
  }
  EXPECT_EQ(distinct.size(), 9u);  // disjoint; one sample left out this epoch
  EXPECT_EQ(data::DistributedSampler(10, 3, 0, o).size(), 3);
  EXPECT_EQ(data::DistributedSampler(9, 3, 0, o).size(), 3);
  EXPECT_EQ(data::DistributedSampler(2, 3, 2, o).size(), 0);
}

TEST(DistributedSampler, NoShuffleIsInterleavedIdentity) {
  auto s = shards(7, 2, 5, {.shuffle = false});
  EXPECT_EQ(s[0], (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(s[1], (std::vector<int64_t>{1, 3, 5, 0}));  // padded with position 0
}

TEST(DistributedSampler, SamePermutationOnEveryRankNewOnePerEpoch) {
  // The ranks' shards interleave back into one permutation, the same whichever rank computes
  // it (it depends only on seed and epoch), and a different one for another epoch or seed.
  auto perm = [](int64_t epoch, uint64_t seed) {
    auto s = shards(12, 4, epoch, {.shuffle = true, .seed = seed});
    std::vector<int64_t> p;
    for (size_t i = 0; i < 3; ++i)
      for (size_t r = 0; r < 4; ++r) p.push_back(s[r][i]);
    return p;
  };
  std::vector<int64_t> e0 = perm(0, 42);
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(12);
  std::iota(iota.begin(), iota.end(), int64_t{0});
  EXPECT_EQ(sorted, iota);
  EXPECT_EQ(perm(0, 42), e0);  // deterministic
  EXPECT_NE(perm(1, 42), e0);  // per epoch
  EXPECT_NE(perm(0, 43), e0);  // per seed
  // The single-rank sampler's order is the DataLoader's own shuffled order (same scheme).
  Rows rows(12);
  data::DataLoader plain(rows.x, rows.y, {.batch_size = 5, .shuffle = true, .seed = 42});
  EXPECT_EQ(data::DistributedSampler(12, 1, 0, {.shuffle = true, .seed = 42}).indices(3),
            plain.order(3));
}

TEST(DistributedSampler, ForCurrentProcessIsASingletonWithoutAGroup) {
  auto s = data::DistributedSampler::for_current_process(5, {.shuffle = false});
  EXPECT_EQ(s->num_replicas(), 1);
  EXPECT_EQ(s->rank(), 0);
  EXPECT_EQ(s->indices(0), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(DistributedSampler, BadArgumentsAreErrors) {
  EXPECT_DUET_ERROR(data::DistributedSampler(10, 2, 2), "DistributedSampler", "rank = 2",
                    "num_replicas = 2");
  EXPECT_DUET_ERROR(data::DistributedSampler(10, 2, -1), "DistributedSampler", "rank = -1");
  EXPECT_DUET_ERROR(data::DistributedSampler(10, 0, 0), "DistributedSampler",
                    "num_replicas = 0", "expected > 0");
  EXPECT_DUET_ERROR(data::DistributedSampler(10, -3, 0), "DistributedSampler",
                    "num_replicas = -3");
  EXPECT_DUET_ERROR(data::DistributedSampler(-1, 1, 0), "DistributedSampler",
                    "dataset_size = -1");
  EXPECT_DUET_ERROR(data::DistributedSampler(0, 2, 0), "DistributedSampler", "empty");
}

TEST(DataLoaderSampler, BatchesTheSamplersIndicesAndIgnoresShuffle) {
  Rows rows(11);
  auto s0 = std::make_shared<data::DistributedSampler>(11, 2, 0,
                                                       data::DistributedSamplerOptions{.seed = 9});
  auto s1 = std::make_shared<data::DistributedSampler>(11, 2, 1,
                                                       data::DistributedSamplerOptions{.seed = 9});
  for (bool shuffle : {true, false}) {
    data::DataLoader a(rows.x, rows.y, {.batch_size = 4, .shuffle = shuffle, .sampler = s0});
    data::DataLoader b(rows.x, rows.y,
                       {.batch_size = 4, .shuffle = shuffle, .num_workers = 0, .sampler = s1});
    EXPECT_EQ(a.num_samples(), 6);
    EXPECT_EQ(a.num_batches(), 2);  // 4 + 2
    EXPECT_EQ(b.num_batches(), 2);
    for (int64_t epoch = 0; epoch < 2; ++epoch) {
      std::vector<int64_t> ea = labels_of_epoch(a), eb = labels_of_epoch(b);
      EXPECT_EQ(ea, s0->indices(epoch));
      EXPECT_EQ(eb, s1->indices(epoch));
      std::set<int64_t> both(ea.begin(), ea.end());
      both.insert(eb.begin(), eb.end());
      EXPECT_EQ(both.size(), 11u);  // 12 positions, one padded repeat
    }
  }
}

TEST(DataLoaderSampler, StateAndSetStateContinueExactly) {
  Rows rows(23);
  auto s = std::make_shared<data::DistributedSampler>(23, 2, 1,
                                                      data::DistributedSamplerOptions{.seed = 5});
  data::DataLoader a(rows.x, rows.y, {.batch_size = 3, .sampler = s});
  labels_of_epoch(a);        // epoch 0
  a.next();                  // epoch 1, batch 0
  data::DataLoaderState st = a.state();
  EXPECT_EQ(st.num_samples, 12);
  EXPECT_EQ(st.epoch, 1);
  EXPECT_EQ(st.next_batch, 1);
  std::vector<int64_t> rest_a = rest_of_epoch(a);
  data::DataLoader b(rows.x, rows.y, {.batch_size = 3, .sampler = s});
  b.set_state(st);
  EXPECT_EQ(labels_of_epoch(b), rest_a);  // begin() continues the restored epoch
  std::vector<int64_t> expected = s->indices(1);
  EXPECT_EQ(rest_a, std::vector<int64_t>(expected.begin() + 3, expected.end()));
  // A state from a loader over another shard length (another world size) is refused.
  auto s3 = std::make_shared<data::DistributedSampler>(23, 3, 0);
  data::DataLoader c(rows.x, rows.y, {.batch_size = 3, .sampler = s3});
  EXPECT_DUET_ERROR(c.set_state(st), "set_state", "12 samples", "has 8");
}

namespace {
// A sampler that breaks its contract.
struct BadSampler : data::Sampler {
  int64_t n, bad;
  BadSampler(int64_t n_, int64_t bad_) : n(n_), bad(bad_) {}
  int64_t size() const override { return n; }
  std::vector<int64_t> indices(int64_t) const override {
    std::vector<int64_t> v(static_cast<size_t>(n), 0);
    v.back() = bad;
    return v;
  }
};
struct ShortSampler : data::Sampler {
  int64_t size() const override { return 4; }
  std::vector<int64_t> indices(int64_t) const override { return {0, 1}; }
};
}  // namespace

TEST(DataLoaderSampler, IndicesOutOfRangeOrOfTheWrongCountAreErrors) {
  Rows rows(5);
  data::DataLoader a(rows.x, rows.y,
                     {.batch_size = 2, .sampler = std::make_shared<BadSampler>(3, 5)});
  EXPECT_DUET_ERROR(a.next(), "DataLoader", "sampler", "index 5", "expected 0 to 4");
  data::DataLoader b(rows.x, rows.y,
                     {.batch_size = 2, .sampler = std::make_shared<BadSampler>(3, -1)});
  EXPECT_DUET_ERROR(b.next(), "index -1");
  data::DataLoader c(rows.x, rows.y, {.batch_size = 2, .sampler = std::make_shared<ShortSampler>()});
  EXPECT_DUET_ERROR(c.next(), "sampler gave 2 indices", "expected its size(), 4");
}

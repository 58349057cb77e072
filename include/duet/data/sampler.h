// Samplers: which sample indices an epoch visits, in which order. A DataLoader with a sampler
// batches the sampler's indices instead of its own (shuffled) order.
//
//   // each of world_size ranks a disjoint shard, the same shuffle on every rank per epoch:
//   auto sampler = std::make_shared<duet::data::DistributedSampler>(
//       train->size(), duet::distributed::world_size(), duet::distributed::rank(),
//       duet::data::DistributedSamplerOptions{.shuffle = true, .seed = 42});
//   duet::data::DataLoader loader(train, {.batch_size = 64, .sampler = sampler});
//   // or: DistributedSampler::for_current_process(train->size(), {...})
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace duet::data {

class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual int64_t size() const = 0;  // indices per epoch
  // The indices of `epoch` (each in [0, dataset size)), deterministic in the epoch.
  virtual std::vector<int64_t> indices(int64_t epoch) const = 0;
};

struct DistributedSamplerOptions {
  bool shuffle = true;
  uint64_t seed = 0;
  // N samples over W ranks: false: pad to ceil(N / W) per rank by repeating the epoch's first
  // indices (every sample is seen; a few twice); true: drop to floor(N / W) per rank.
  bool drop_last = false;
};

// PyTorch's DistributedSampler: the epoch's permutation (from seed and epoch, identical on
// every rank), padded or cut to a multiple of num_replicas, then rank r takes positions
// r, r + W, r + 2W, ...: disjoint shards of equal length.
class DistributedSampler : public Sampler {
 public:
  DistributedSampler(int64_t dataset_size, int64_t num_replicas, int64_t rank,
                     const DistributedSamplerOptions& options = {});
  // num_replicas and rank from duet::distributed (1 and 0 when not initialized).
  static std::shared_ptr<DistributedSampler> for_current_process(
      int64_t dataset_size, const DistributedSamplerOptions& options = {});
  int64_t size() const override;
  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t num_replicas() const { return num_replicas_; }
  int64_t rank() const { return rank_; }

 private:
  int64_t dataset_size_, num_replicas_, rank_;
  DistributedSamplerOptions options_;
};

}  // namespace duet::data

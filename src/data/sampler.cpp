// DistributedSampler: the epoch's seeded permutation (the DataLoader's own scheme), padded or
// cut to a multiple of the rank count, then every num_replicas-th position from `rank`.
#include "duet/data/sampler.h"

#include <numeric>

#include "duet/distributed.h"
#include "duet/error.h"
#include "duet/random.h"

namespace duet::data {

DistributedSampler::DistributedSampler(int64_t dataset_size, int64_t num_replicas, int64_t rank,
                                       const DistributedSamplerOptions& options)
    : dataset_size_(dataset_size), num_replicas_(num_replicas), rank_(rank), options_(options) {
  DUET_CHECK(dataset_size >= 0, "DistributedSampler: dataset_size = ", dataset_size,
             " (expected >= 0)");
  DUET_CHECK(num_replicas > 0, "DistributedSampler: num_replicas = ", num_replicas,
             " (expected > 0)");
  DUET_CHECK(rank >= 0 && rank < num_replicas, "DistributedSampler: rank = ", rank,
             " with num_replicas = ", num_replicas, " (expected 0 <= rank < num_replicas)");
  DUET_CHECK(options.drop_last || dataset_size > 0 || num_replicas == 1,
             "DistributedSampler: an empty dataset cannot be padded to ", num_replicas,
             " ranks");
}

std::shared_ptr<DistributedSampler> DistributedSampler::for_current_process(
    int64_t dataset_size, const DistributedSamplerOptions& options) {
  return std::make_shared<DistributedSampler>(dataset_size, distributed::world_size(),
                                              distributed::rank(), options);
}

int64_t DistributedSampler::size() const {
  if (options_.drop_last) return dataset_size_ / num_replicas_;
  return (dataset_size_ + num_replicas_ - 1) / num_replicas_;
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
  std::vector<int64_t> all(static_cast<size_t>(dataset_size_));
  std::iota(all.begin(), all.end(), int64_t{0});
  if (options_.shuffle) {
    // As DataLoader::order: the epoch mixed into the seed, then Fisher-Yates.
    Generator gen(options_.seed ^ (0x9e3779b97f4a7c15ULL * (static_cast<uint64_t>(epoch) + 1)));
    for (size_t i = all.size(); i > 1; --i) {
      const size_t j = static_cast<size_t>(gen.below(i));
      std::swap(all[i - 1], all[j]);
    }
  }
  const int64_t per_rank = size();
  const int64_t total = per_rank * num_replicas_;
  // Padding repeats the permutation from its start (more than once when N < W - 1).
  for (int64_t i = dataset_size_; i < total; ++i)
    all.push_back(all[static_cast<size_t>(i % dataset_size_)]);
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(per_rank));
  for (int64_t i = rank_; i < total; i += num_replicas_) mine.push_back(all[static_cast<size_t>(i)]);
  return mine;
}

}  // namespace duet::data

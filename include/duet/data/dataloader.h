// DataLoader: seeded, reproducible mini-batches over any Dataset, made by N worker threads
// that stay up to `prefetch` batches each ahead of the consumer.
//
//   auto train = duet::data::load_fashion_mnist();          // an IdxDataset, in memory
//   duet::data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 42,
//                                         .num_workers = 2, .prefetch = 2});
//   for (int epoch = 0; epoch < 10; ++epoch) {
//     for (auto& batch : loader) {        // each loop is a new epoch with a new order
//       // batch.x: (B, 1, 28, 28), batch.y: (B); the last batch may be smaller
//     }
//   }
//   // or by hand: while (auto b = loader.next()) { ... }
//   // or over tensors: DataLoader(images, labels, /*batch_size=*/128, /*shuffle=*/true, 0)
//
// Determinism: epoch e's order depends only on (seed, e), and a transform's generator only
// on (seed, e, sample index): the batches are the same for 0, 1 or N workers, whatever the
// timing, and the same after a resume (state() / set_state()). Batches come in order.
//
// Fast path: a dataset with rows() (TensorDataset, IdxDataset) and no transform is gathered
// with one memcpy per row. Otherwise each example is get(), transformed, and stacked; every
// example of a batch must have the same shapes and dtypes. Batches are fresh tensors.
//
// Workers: num_workers = 0 makes each batch on the thread that calls next(); N > 0 starts N
// threads that make batches ahead, at most N * prefetch at a time. An exception thrown by
// get() or a transform reaches the caller of next() at that batch, and ends the epoch.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "duet/data/dataset.h"
#include "duet/data/sampler.h"
#include "duet/data/transforms.h"
#include "duet/tensor.h"

namespace duet::data {

struct Batch {
  Tensor x;           // (B, ...) the examples' inputs, stacked
  Tensor y;           // (B, ...) their targets
  int64_t index = 0;  // position of this batch in its epoch
};

struct DataLoaderOptions {
  int64_t batch_size = 32;  // > 0
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;   // drop a last batch smaller than batch_size
  int64_t num_workers = 1;  // threads making batches; 0: on the calling thread
  int64_t prefetch = 2;     // batches each worker may make ahead (>= 1)
  Transform transform{};    // applied to each example's x (empty: none)
  // When set, each epoch batches sampler->indices(epoch) in that order (num_samples() =
  // sampler->size()) and `shuffle` is ignored: e.g. a DistributedSampler, each rank its shard.
  std::shared_ptr<const Sampler> sampler{};
};

// Where a loader is: enough to continue exactly (checkpoints). The order depends only on
// the seed and the epoch; transforms only on (seed, epoch, sample index).
struct DataLoaderState {
  uint64_t seed = 0;
  int64_t epoch = -1;        // the epoch running, or the last one started; -1 before any
  int64_t next_batch = 0;    // batches of `epoch` already handed out
  bool in_epoch = false;     // the epoch is still running (false once exhausted/abandoned)
  int64_t num_samples = 0;   // checked by set_state: a state for another dataset is an error
  int64_t batch_size = 0;    // checked too
  bool shuffle = true;       // checked too
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, const DataLoaderOptions& options);
  // A copy of the dataset's tensor handles (no data copied); IdxDataset included.
  DataLoader(const TensorDataset& dataset, const DataLoaderOptions& options);
  DataLoader(const Tensor& inputs, const Tensor& targets, const DataLoaderOptions& options);
  // inputs and targets share their first dimension N; batch_size > 0; one worker.
  DataLoader(const Tensor& inputs, const Tensor& targets, int64_t batch_size, bool shuffle = true,
             uint64_t seed = 0, bool drop_last = false);
  ~DataLoader();  // stops and joins the worker threads
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t num_batches() const { return num_batches_; }
  int64_t num_samples() const { return num_samples_; }
  int64_t batch_size() const { return options_.batch_size; }
  const DataLoaderOptions& options() const { return options_; }
  const Dataset& dataset() const { return *dataset_; }
  // The epoch being iterated (or last finished); -1 before the first.
  int64_t epoch() const;
  // The sample order of `epoch` (identity when !shuffle; the sampler's indices when set).
  std::vector<int64_t> order(int64_t epoch) const;
  // The seed of sample `index`'s transform generator in `epoch`.
  uint64_t sample_seed(int64_t epoch, int64_t index) const;

  // Abandons the current epoch (if any) and starts `epoch` at batch `first_batch`.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the current epoch, or nullopt when it is exhausted. With no epoch
  // running, starts the next one (epoch 0 first).
  std::optional<Batch> next();

  DataLoaderState state() const;
  // Continues where `state` was taken (the same epoch and batch; the seed from the state).
  // Throws duet::Error, changing nothing, when the state is for another dataset size,
  // batch size or shuffle setting, or is out of range.
  void set_state(const DataLoaderState& state);

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = Batch*;
    using reference = Batch&;
    Iterator() = default;
    explicit Iterator(DataLoader* loader) : loader_(loader) { ++*this; }
    Batch& operator*() { return *current_; }
    Batch* operator->() { return &*current_; }
    Iterator& operator++();
    bool operator==(const Iterator& other) const { return loader_ == other.loader_; }

   private:
    DataLoader* loader_ = nullptr;  // null at the end
    std::optional<Batch> current_;
  };
  // Starts the next epoch (or continues the one just started with start_epoch or set_state
  // and not yet read from).
  Iterator begin();
  Iterator end() { return Iterator(); }

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  void start_epoch_locked(int64_t epoch, int64_t first_batch);
  void worker_loop();
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& indices) const;

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  int64_t num_samples_, num_batches_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;  // bumped by every start_epoch; stale batches are dropped
  int64_t epoch_ = -1;
  bool active_ = false;
  bool fresh_ = false;  // started by start_epoch/set_state, nothing read yet
  std::vector<int64_t> order_;
  int64_t next_to_produce_ = 0, next_to_consume_ = 0;
  std::map<int64_t, Slot> ready_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace duet::data

// DataLoader: seeded, reproducible mini-batches over in-memory tensors, with a background
// thread that gathers the next batch while the current one is in use.
//
//   auto train = duet::data::load_fashion_mnist();
//   duet::data::DataLoader loader(train.images, train.labels, /*batch_size=*/128,
//                                 /*shuffle=*/true, /*seed=*/42);
//   for (int epoch = 0; epoch < 10; ++epoch) {
//     for (auto& batch : loader) {        // each loop is a new epoch with a new order
//       // batch.x: (B, 1, 28, 28), batch.y: (B); the last batch may be smaller
//     }
//   }
//   // or by hand: while (auto b = loader.next()) { ... }
//
// Epoch e's order depends only on (seed, e): the same seed gives the same run, and each
// epoch differs. Batches are fresh tensors (copies), safe to keep.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "duet/tensor.h"

namespace duet::data {

struct Batch {
  Tensor x;           // (B, ...) rows of the inputs
  Tensor y;           // (B, ...) rows of the targets
  int64_t index = 0;  // position of this batch in its epoch
};

class DataLoader {
 public:
  // inputs and targets share their first dimension N; batch_size > 0.
  DataLoader(const Tensor& inputs, const Tensor& targets, int64_t batch_size, bool shuffle = true,
             uint64_t seed = 0, bool drop_last = false);
  ~DataLoader();  // stops and joins the worker thread
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t num_batches() const { return num_batches_; }
  int64_t num_samples() const { return num_samples_; }
  int64_t batch_size() const { return batch_size_; }
  // The epoch being iterated (or last finished); -1 before the first.
  int64_t epoch() const;
  // The sample order of `epoch` (identity when !shuffle).
  std::vector<int64_t> order(int64_t epoch) const;

  // Abandons the current epoch (if any) and starts `epoch`.
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch, or nullopt when it is exhausted. With no epoch
  // running, starts the next one (epoch 0 first).
  std::optional<Batch> next();

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
  // Starts the next epoch (or the one just started with start_epoch and not yet read).
  Iterator begin();
  Iterator end() { return Iterator(); }

 private:
  void start_epoch_locked(int64_t epoch);
  void worker_loop();
  Batch gather(const std::vector<int64_t>& rows) const;

  Tensor inputs_, targets_;  // contiguous
  int64_t num_samples_, batch_size_, num_batches_;
  bool shuffle_;
  uint64_t seed_;
  size_t prefetch_ = 2;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;  // bumped by every start_epoch; stale batches are dropped
  int64_t epoch_ = -1;
  bool active_ = false;
  std::vector<int64_t> order_;
  int64_t next_to_produce_ = 0, next_to_consume_ = 0;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace duet::data

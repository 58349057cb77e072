// DataLoader: per-epoch seeded permutation, one worker thread gathering batches ahead.
#include "duet/data/dataloader.h"

#include <cstring>
#include <numeric>

#include "duet/autograd.h"
#include "duet/random.h"

namespace duet::data {
namespace {

// Rows [rows...] of a contiguous (N, ...) tensor into a fresh (B, ...) tensor.
Tensor gather_rows(const Tensor& src, const std::vector<int64_t>& rows) {
  Shape shape = src.shape();
  const int64_t n = shape[0];
  shape[0] = static_cast<int64_t>(rows.size());
  Tensor out = Tensor::empty(shape, src.dtype(), src.device());
  const size_t row_bytes = n == 0 ? 0 : src.numel() / n * dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.data_ptr());
  char* d = static_cast<char*>(out.data_ptr());
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(d + i * row_bytes, s + rows[i] * row_bytes, row_bytes);
  return out;
}

Tensor prepare(const Tensor& t, const char* what) {
  DUET_CHECK(t.defined(), "DataLoader: ", what, " is an undefined tensor");
  DUET_CHECK(t.dim() >= 1, "DataLoader: ", what, " has shape ", shape_str(t.shape()),
             " (expected rank >= 1 with samples along axis 0)");
  DUET_CHECK(!t.is_symbolic() && t.device() == cpu, "DataLoader: ", what,
             " must be a CPU tensor holding data");
  NoGradGuard no_grad;
  Tensor c = t.detach();
  return c.is_contiguous() ? c : c.contiguous();
}

}  // namespace

DataLoader::DataLoader(const Tensor& inputs, const Tensor& targets, int64_t batch_size,
                       bool shuffle, uint64_t seed, bool drop_last)
    : inputs_(prepare(inputs, "inputs")),
      targets_(prepare(targets, "targets")),
      num_samples_(inputs_.size(0)),
      batch_size_(batch_size),
      shuffle_(shuffle),
      seed_(seed) {
  DUET_CHECK(batch_size > 0, "DataLoader: batch_size = ", batch_size, " (expected > 0)");
  DUET_CHECK(targets_.size(0) == num_samples_, "DataLoader: inputs have shape ",
             shape_str(inputs_.shape()), " but targets have shape ", shape_str(targets_.shape()),
             " (expected the same number of samples along axis 0)");
  num_batches_ =
      drop_last ? num_samples_ / batch_size : (num_samples_ + batch_size - 1) / batch_size;
  worker_ = std::thread([this] { worker_loop(); });
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

int64_t DataLoader::epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return epoch_;
}

std::vector<int64_t> DataLoader::order(int64_t epoch) const {
  std::vector<int64_t> idx(static_cast<size_t>(num_samples_));
  std::iota(idx.begin(), idx.end(), int64_t{0});
  if (!shuffle_) return idx;
  // The epoch is mixed into the seed (splitmix64 constants), then Fisher-Yates.
  Generator gen(seed_ ^ (0x9e3779b97f4a7c15ULL * (static_cast<uint64_t>(epoch) + 1)));
  for (size_t i = idx.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(gen.below(i));
    std::swap(idx[i - 1], idx[j]);
  }
  return idx;
}

void DataLoader::start_epoch_locked(int64_t epoch) {
  ++generation_;
  epoch_ = epoch;
  order_ = order(epoch);
  next_to_produce_ = 0;
  next_to_consume_ = 0;
  ready_.clear();
  error_ = nullptr;
  active_ = true;
  cv_.notify_all();
}

void DataLoader::start_epoch(int64_t epoch) {
  DUET_CHECK(epoch >= 0, "DataLoader::start_epoch: epoch = ", epoch, " (expected >= 0)");
  std::lock_guard<std::mutex> lock(mu_);
  start_epoch_locked(epoch);
}

std::optional<Batch> DataLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!active_) start_epoch_locked(epoch_ + 1);
  if (next_to_consume_ >= num_batches_) {
    active_ = false;
    return std::nullopt;
  }
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    active_ = false;
    std::rethrow_exception(e);
  }
  Batch b = std::move(ready_.front());
  ready_.pop_front();
  ++next_to_consume_;
  cv_.notify_all();
  return b;
}

DataLoader::Iterator DataLoader::begin() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A fresh start_epoch() that nothing has read yet is kept; otherwise a new epoch begins.
    if (!(active_ && next_to_consume_ == 0)) start_epoch_locked(epoch_ + 1);
  }
  return Iterator(this);
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  current_ = loader_->next();
  if (!current_) loader_ = nullptr;
  return *this;
}

Batch DataLoader::gather(const std::vector<int64_t>& rows) const {
  return {gather_rows(inputs_, rows), gather_rows(targets_, rows), 0};
}

void DataLoader::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] {
      return stop_ ||
             (active_ && !error_ && next_to_produce_ < num_batches_ && ready_.size() < prefetch_);
    });
    if (stop_) return;
    const int64_t b = next_to_produce_++;
    const uint64_t generation = generation_;
    const int64_t begin = b * batch_size_;
    const int64_t end = std::min(begin + batch_size_, num_samples_);
    std::vector<int64_t> rows(order_.begin() + begin, order_.begin() + end);
    lock.unlock();
    Batch batch;
    std::exception_ptr err;
    try {
      batch = gather(rows);
      batch.index = b;
    } catch (...) {
      err = std::current_exception();
    }
    lock.lock();
    if (generation != generation_) continue;  // the epoch was restarted meanwhile
    if (err) {
      error_ = err;
    } else {
      ready_.push_back(std::move(batch));
    }
    cv_.notify_all();
  }
}

}  // namespace duet::data

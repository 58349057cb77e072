// DataLoader: per-epoch seeded permutation; N worker threads make batches ahead, which the
// consumer takes strictly in order (a map keyed by batch index), so the result does not
// depend on which worker made which batch.
#include "duet/data/dataloader.h"

#include <algorithm>
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

// Examples' x (or y) stacked into (B, ...shape); every one must match the first.
Tensor stack(const std::vector<Tensor>& parts, const std::vector<int64_t>& indices,
             const char* what) {
  const Tensor& first = parts[0];
  Shape shape{static_cast<int64_t>(parts.size())};
  for (int64_t d : first.shape()) shape.push_back(d);
  Tensor out = Tensor::empty(shape, first.dtype());
  const size_t bytes = static_cast<size_t>(first.numel()) * dtype_size(first.dtype());
  char* d = static_cast<char*>(out.data_ptr());
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    DUET_CHECK(p.shape() == first.shape() && p.dtype() == first.dtype(), "DataLoader: sample ",
               indices[i], "'s ", what, " has shape ", shape_str(p.shape()), " ", p.dtype(),
               " but sample ", indices[0], "'s has ", shape_str(first.shape()), " ",
               first.dtype(), " (expected every example of a batch to match)");
    if (bytes) std::memcpy(d + i * bytes, p.data_ptr(), bytes);
  }
  return out;
}

// A CPU tensor holding data, contiguous.
Tensor host_contiguous(const Tensor& t, int64_t index, const char* what) {
  DUET_CHECK(t.defined(), "DataLoader: sample ", index, "'s ", what, " is an undefined tensor");
  DUET_CHECK(!t.is_symbolic() && t.device() == cpu, "DataLoader: sample ", index, "'s ", what,
             " must be a CPU tensor holding data (got ", t.device(), ")");
  return t.is_contiguous() ? t : t.contiguous();
}

std::shared_ptr<const Dataset> tensor_dataset(const Tensor& inputs, const Tensor& targets) {
  try {
    return std::make_shared<TensorDataset>(inputs, targets);
  } catch (const Error& e) {
    throw Error(detail::cat("DataLoader: ", e.what()));
  }
}

std::shared_ptr<const Dataset> checked(std::shared_ptr<const Dataset> d) {
  DUET_CHECK(d != nullptr, "DataLoader: the dataset is null");
  return d;
}

}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, const DataLoaderOptions& options)
    : dataset_(checked(std::move(dataset))), options_(options),
      num_samples_(options.sampler ? options.sampler->size() : dataset_->size()) {
  const int64_t bs = options_.batch_size;
  DUET_CHECK(bs > 0, "DataLoader: batch_size = ", bs, " (expected > 0)");
  DUET_CHECK(options_.num_workers >= 0 && options_.num_workers <= 256,
             "DataLoader: num_workers = ", options_.num_workers, " (expected 0 to 256)");
  DUET_CHECK(options_.prefetch >= 1 && options_.prefetch <= 1024, "DataLoader: prefetch = ",
             options_.prefetch, " (expected 1 to 1024)");
  DUET_CHECK(num_samples_ >= 0, "DataLoader: the ", options_.sampler ? "sampler" : "dataset",
             "'s size() is ", num_samples_, " (expected >= 0)");
  num_batches_ = options_.drop_last ? num_samples_ / bs : num_samples_ / bs + (num_samples_ % bs != 0);
  for (int64_t i = 0; i < options_.num_workers; ++i)
    workers_.emplace_back([this] { worker_loop(); });
}

DataLoader::DataLoader(const TensorDataset& dataset, const DataLoaderOptions& options)
    : DataLoader(std::make_shared<TensorDataset>(dataset), options) {}

DataLoader::DataLoader(const Tensor& inputs, const Tensor& targets,
                       const DataLoaderOptions& options)
    : DataLoader(tensor_dataset(inputs, targets), options) {}

DataLoader::DataLoader(const Tensor& inputs, const Tensor& targets, int64_t batch_size,
                       bool shuffle, uint64_t seed, bool drop_last)
    : DataLoader(inputs, targets,
                 DataLoaderOptions{.batch_size = batch_size,
                                   .shuffle = shuffle,
                                   .seed = seed,
                                   .drop_last = drop_last,
                                   .num_workers = 1,
                                   .prefetch = 2,
                                   .transform = {}}) {}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
}

int64_t DataLoader::epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return epoch_;
}

std::vector<int64_t> DataLoader::order(int64_t epoch) const {
  if (options_.sampler) {
    std::vector<int64_t> idx = options_.sampler->indices(epoch);
    DUET_CHECK(static_cast<int64_t>(idx.size()) == num_samples_, "DataLoader: the sampler gave ",
               idx.size(), " indices for epoch ", epoch, " (expected its size(), ", num_samples_,
               ")");
    const int64_t n = dataset_->size();
    for (int64_t i : idx)
      DUET_CHECK(i >= 0 && i < n, "DataLoader: the sampler gave index ", i, " for epoch ", epoch,
                 " (expected 0 to ", n - 1, ": the dataset has ", n, " samples)");
    return idx;
  }
  std::vector<int64_t> idx(static_cast<size_t>(num_samples_));
  std::iota(idx.begin(), idx.end(), int64_t{0});
  if (!options_.shuffle) return idx;
  // The epoch is mixed into the seed (splitmix64 constants), then Fisher-Yates.
  Generator gen(options_.seed ^ (0x9e3779b97f4a7c15ULL * (static_cast<uint64_t>(epoch) + 1)));
  for (size_t i = idx.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(gen.below(i));
    std::swap(idx[i - 1], idx[j]);
  }
  return idx;
}

uint64_t DataLoader::sample_seed(int64_t epoch, int64_t index) const {
  // Two rounds of the splitmix64 finaliser over (seed, epoch, index).
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(options_.seed + 0x9e3779b97f4a7c15ULL);
  h = mix(h ^ (static_cast<uint64_t>(epoch) + 0x632be59bd9b4e019ULL));
  return mix(h ^ (static_cast<uint64_t>(index) * 0xd1b54a32d192ed03ULL));
}

void DataLoader::start_epoch_locked(int64_t epoch, int64_t first_batch) {
  ++generation_;
  if (epoch != epoch_ || order_.empty()) order_ = order(epoch);
  epoch_ = epoch;
  next_to_produce_ = first_batch;
  next_to_consume_ = first_batch;
  ready_.clear();
  active_ = true;
  fresh_ = false;
  cv_.notify_all();
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  DUET_CHECK(epoch >= 0, "DataLoader::start_epoch: epoch = ", epoch, " (expected >= 0)");
  DUET_CHECK(first_batch >= 0 && first_batch <= num_batches_,
             "DataLoader::start_epoch: first_batch = ", first_batch, " (expected 0 to ",
             num_batches_, ")");
  std::lock_guard<std::mutex> lock(mu_);
  start_epoch_locked(epoch, first_batch);
  fresh_ = true;
}

std::optional<Batch> DataLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!active_) start_epoch_locked(epoch_ + 1, 0);
  fresh_ = false;
  if (next_to_consume_ >= num_batches_) {
    active_ = false;
    return std::nullopt;
  }
  const int64_t b = next_to_consume_;
  Slot slot;
  if (workers_.empty()) {
    const int64_t begin = b * options_.batch_size;
    const int64_t end = std::min(begin + options_.batch_size, num_samples_);
    std::vector<int64_t> indices(order_.begin() + begin, order_.begin() + end);
    const int64_t epoch = epoch_;
    ++next_to_produce_;
    ++next_to_consume_;
    lock.unlock();
    try {
      slot.batch = make_batch(epoch, indices);
      slot.batch.index = b;
    } catch (...) {
      lock.lock();
      active_ = false;
      throw;
    }
    return std::move(slot.batch);
  }
  cv_.wait(lock, [&] { return ready_.count(b) > 0; });
  auto it = ready_.find(b);
  slot = std::move(it->second);
  ready_.erase(it);
  ++next_to_consume_;
  cv_.notify_all();
  if (slot.error) {
    active_ = false;
    ++generation_;  // batches still being made for this epoch are dropped
    ready_.clear();
    std::rethrow_exception(slot.error);
  }
  return std::move(slot.batch);
}

DataLoaderState DataLoader::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {.seed = options_.seed,
          .epoch = epoch_,
          .next_batch = next_to_consume_,
          .in_epoch = active_ && next_to_consume_ < num_batches_,  // a drained epoch is done
          .num_samples = num_samples_,
          .batch_size = options_.batch_size,
          .shuffle = options_.shuffle};
}

void DataLoader::set_state(const DataLoaderState& s) {
  const char* w = "DataLoader::set_state: ";
  DUET_CHECK(s.num_samples == num_samples_, w, "the state is for ", s.num_samples,
             " samples but this loader's dataset has ", num_samples_,
             " (expected the same dataset)");
  DUET_CHECK(s.batch_size == options_.batch_size, w, "the state is for batch_size ",
             s.batch_size, " but this loader has ", options_.batch_size);
  DUET_CHECK(s.shuffle == options_.shuffle, w, "the state is for shuffle = ", s.shuffle,
             " but this loader has shuffle = ", options_.shuffle);
  DUET_CHECK(s.epoch >= -1 && s.epoch < (int64_t{1} << 62), w, "epoch = ", s.epoch,
             " (expected -1 to 2^62)");
  DUET_CHECK(s.next_batch >= 0 && s.next_batch <= num_batches_, w, "next_batch = ",
             s.next_batch, " (expected 0 to ", num_batches_, ")");
  DUET_CHECK(!s.in_epoch || s.epoch >= 0, w, "in_epoch is set but epoch = ", s.epoch);
  std::lock_guard<std::mutex> lock(mu_);
  options_.seed = s.seed;
  order_.clear();
  if (s.in_epoch) {
    start_epoch_locked(s.epoch, s.next_batch);
    fresh_ = true;
  } else {
    ++generation_;
    ready_.clear();
    epoch_ = s.epoch;
    active_ = false;
    fresh_ = false;
    next_to_produce_ = next_to_consume_ = s.next_batch;
  }
}

DataLoader::Iterator DataLoader::begin() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A fresh start_epoch()/set_state() that nothing has read yet is kept; otherwise a new
    // epoch begins.
    if (!(active_ && fresh_)) start_epoch_locked(epoch_ + 1, 0);
  }
  return Iterator(this);
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  current_ = loader_->next();
  if (!current_) loader_ = nullptr;
  return *this;
}

Batch DataLoader::make_batch(int64_t epoch, const std::vector<int64_t>& indices) const {
  const std::pair<Tensor, Tensor>* rows = dataset_->rows();
  if (rows && !options_.transform)
    return {gather_rows(rows->first, indices), gather_rows(rows->second, indices), 0};
  std::vector<Tensor> xs, ys;
  xs.reserve(indices.size());
  ys.reserve(indices.size());
  NoGradGuard no_grad;
  for (int64_t i : indices) {
    Example ex = dataset_->get(i);
    if (options_.transform) {
      Generator gen(sample_seed(epoch, i));
      ex.x = options_.transform(ex.x, gen);
    }
    xs.push_back(host_contiguous(ex.x, i, "x"));
    ys.push_back(host_contiguous(ex.y, i, "y"));
  }
  return {stack(xs, indices, "x"), stack(ys, indices, "y"), 0};
}

void DataLoader::worker_loop() {
  const int64_t max_ahead = options_.num_workers * options_.prefetch;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] {
      return stop_ || (active_ && next_to_produce_ < num_batches_ &&
                       next_to_produce_ - next_to_consume_ < max_ahead);
    });
    if (stop_) return;
    const int64_t b = next_to_produce_++;
    const uint64_t generation = generation_;
    const int64_t epoch = epoch_;
    const int64_t begin = b * options_.batch_size;
    const int64_t end = std::min(begin + options_.batch_size, num_samples_);
    std::vector<int64_t> indices(order_.begin() + begin, order_.begin() + end);
    lock.unlock();
    Slot slot;
    try {
      slot.batch = make_batch(epoch, indices);
      slot.batch.index = b;
    } catch (...) {
      slot.error = std::current_exception();
    }
    lock.lock();
    if (generation != generation_) continue;  // the epoch was restarted meanwhile
    ready_.emplace(b, std::move(slot));
    cv_.notify_all();
  }
}

}  // namespace duet::data

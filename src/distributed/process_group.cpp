// The process group (process_group.h): the engine plugin, the communication thread that runs
// its collectives in call order, init()/shutdown() and the group's queries of
// duet/distributed.h.
//
// The communication thread creates the engine, runs one collective at a time (start it, then
// poll Request::test() with a short sleep in between, so a rank waiting for its peer costs
// almost no CPU), and destroys the engine at shutdown. A collective that is not done within
// the group's timeout fails its Work and breaks the group: queued and later collectives fail
// at once with the first error, and the engine is aborted instead of finalized at shutdown (a
// finalize would wait for the dead or hung peer). One collective in flight at a time: MPI and
// Gloo progress their collectives in order anyway, and a bucket's all-reduce is large enough
// to use the links alone.
#include "distributed/process_group.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "distributed/group_internal.h"
#include "distributed/plugin_loader.h"
#include "duet/error.h"
#include "duet/profiler.h"

namespace duet::distributed {

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::automatic:
      return "automatic";
    case Backend::mpi:
      return "mpi";
    case Backend::gloo:
      return "gloo";
    case Backend::nccl:
      return "nccl";
  }
  return "?";
}

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return "sum";
    case ReduceOp::avg:
      return "avg";
    case ReduceOp::min:
      return "min";
    case ReduceOp::max:
      return "max";
  }
  return "?";
}

namespace detail {

std::string format_timeout(std::chrono::milliseconds t) {
  const auto ms = t.count();
  if (ms % 1000 == 0) return cat(ms / 1000, " s");
  if (ms > 1000) return cat(static_cast<double>(ms) / 1000.0, " s");
  return cat(ms, " ms");
}

void check_comm_dtype(const std::string& what, DType dtype, ReduceOp op) {
  switch (dtype) {
    case DType::float32:
    case DType::float64:
      return;
    case DType::int64:
    case DType::bool_:
      DUET_CHECK(op != ReduceOp::avg, what,
                 ": avg needs a floating dtype (float32 or float64) but ", "the tensor is ",
                 dtype_name(dtype), "; use sum and divide yourself");
      return;
    default:
      break;
  }
  // float16 / bfloat16: the collectives reduce float32 (DDP's gradients are float32 under
  // autocast: parameters stay float32); MPI has no 16-bit floating reduction.
  throw Error(cat(what, ": dtype ", dtype_name(dtype),
                  " is not supported by the collectives (float32, float64, int64, bool; cast a ",
                  "float16 or bfloat16 tensor to float32 first)"));
}

std::string timeout_message(const std::string& what, int rank, int world_size,
                            std::chrono::milliseconds timeout) {
  return cat("distributed: ", what, " on rank ", rank, " of ", world_size,
             " did not complete within ", format_timeout(timeout),
             ": a peer may have exited, hung or called a different collective");
}

namespace {

// The longest sleep between two polls of a request while the thread waits for its peers
// ($DUET_DIST_POLL_US, microseconds; 0 spins). Polls start 10 us apart and double up to it.
std::chrono::microseconds poll_interval() {
  static const std::chrono::microseconds interval = [] {
    const char* env = std::getenv("DUET_DIST_POLL_US");
    long us = 500;
    if (env && *env) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      DUET_CHECK(end && *end == '\0' && v >= 0 && v <= 1000000,
                 "distributed: DUET_DIST_POLL_US=", env,
                 " is not a number of microseconds in [0, 1000000]");
      us = v;
    }
    return std::chrono::microseconds(us);
  }();
  return interval;
}

class WorkImpl final : public Work {
 public:
  // `waiters` counts the threads blocked in wait() on any of the group's works.
  explicit WorkImpl(std::shared_ptr<std::atomic<int>> waiters) : waiters_(std::move(waiters)) {}
  bool completed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  void wait() override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!done_) {
      waiters_->fetch_add(1, std::memory_order_acq_rel);
      cv_.wait(lock, [&] { return done_; });
      waiters_->fetch_sub(1, std::memory_order_acq_rel);
    }
    if (error_) std::rethrow_exception(error_);
  }
  void finish(std::exception_ptr error) {
    std::shared_ptr<const void> keep;
    {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = error;
      done_ = true;
      keep.swap(keep_);
    }
    cv_.notify_all();
  }
  void hold(std::shared_ptr<const void> keep) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!done_) keep_ = std::move(keep);
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
  std::shared_ptr<const void> keep_;
  std::shared_ptr<std::atomic<int>> waiters_;
};

// One queued collective.
struct Item {
  std::string what;   // for errors: "all_reduce (float32, 1000 elements)"
  int64_t bytes = 0;  // what one rank sends: picks the polling (execute())
  std::function<std::unique_ptr<Request>(CommBackend&)> start;
  std::function<void()> after;  // on success, on the thread (avg: divide); may be empty
  std::shared_ptr<WorkImpl> work;
};

template <class T>
void divide(void* buf, int64_t count, int by) {
  T* p = static_cast<T*>(buf);
  const T d = static_cast<T>(by);
  for (int64_t i = 0; i < count; ++i) p[i] /= d;
}

void divide_buffer(void* buf, int64_t count, DType dtype, int by) {
  if (dtype == DType::float32)
    divide<float>(buf, count, by);
  else
    divide<double>(buf, count, by);
}

// The engine `init()` starts for a backend; nccl also needs a CPU engine to bootstrap.
Backend bootstrap_engine() {
  const bool mpirun = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE");
  if (mpirun) return Backend::mpi;
  return std::getenv("RANK") || std::getenv("WORLD_SIZE") ? Backend::gloo : Backend::mpi;
}

// Backend::automatic resolved from the environment (and checked: half a Gloo environment is an
// error naming the variables).
Backend resolve(Backend requested) {
  const bool has_rank = std::getenv("RANK") != nullptr;
  const bool has_size = std::getenv("WORLD_SIZE") != nullptr;
  const bool mpirun = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE");
  const bool wants_tcp =
      requested == Backend::gloo ||
      ((requested == Backend::automatic || requested == Backend::nccl) && !mpirun);
  if (wants_tcp && has_rank != has_size)
    throw Error(cat("distributed: init(", backend_name(requested),
                    "): the environment is incomplete: ", has_rank ? "RANK" : "WORLD_SIZE",
                    " is set but ", has_rank ? "WORLD_SIZE" : "RANK",
                    " is not (a Gloo launch sets RANK, WORLD_SIZE, MASTER_ADDR and "
                    "MASTER_PORT; an MPI launch uses mpirun)"));
  if (requested != Backend::automatic) return requested;
  if (mpirun) return Backend::mpi;
  if (has_rank && has_size) return Backend::gloo;
  return Backend::mpi;
}

class GroupImpl final : public ProcessGroup {
 public:
  GroupImpl(Backend backend, const InitOptions& options)
      : backend_(backend), timeout_(options.timeout), check_shapes_(options.check_shapes) {}

  ~GroupImpl() override { stop(); }

  // Starts the thread and the engine on it; throws the engine's error (or a timeout).
  void start() {
    std::promise<void> created;
    std::future<void> ready = created.get_future();
    thread_ = std::thread([this, p = std::move(created)]() mutable { run(std::move(p)); });
    // MPI_Init and Gloo's rendezvous wait for the peers: bounded by the timeout too.
    if (ready.wait_for(timeout_) != std::future_status::ready) {
      thread_.detach();  // stuck in the engine's start: leave it (and this object) behind
      leaked_ = true;
      throw Error(cat("distributed: init(", backend_name(backend_), ") did not complete within ",
                      format_timeout(timeout_),
                      ": the engine's start-up waits for every rank (did every process call "
                      "init(), with the same world size?)"));
    }
    try {
      ready.get();
    } catch (...) {
      thread_.join();
      throw;
    }
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  Backend backend() const override { return backend_; }
  std::chrono::milliseconds timeout() const override { return timeout_; }
  bool check_shapes() const override { return check_shapes_; }
  CommBackend* device_engine() override { return device_.get(); }

  std::shared_ptr<Work> all_reduce(void* buf, int64_t count, DType dtype, ReduceOp op,
                                   std::string what) override {
    check_comm_dtype(what, dtype, op);
    const ReduceOp wire = op == ReduceOp::avg ? ReduceOp::sum : op;
    std::function<void()> after;
    if (op == ReduceOp::avg && world_size_ > 1)
      after = [buf, count, dtype, n = world_size_] { divide_buffer(buf, count, dtype, n); };
    return enqueue(
        std::move(what), count * int64_t(dtype_size(dtype)),
        [=](CommBackend& e) { return e.start_all_reduce(buf, count, dtype, wire); },
        std::move(after));
  }

  std::shared_ptr<Work> broadcast(void* buf, int64_t count, DType dtype, int root,
                                  std::string what) override {
    check_comm_dtype(what, dtype);
    DUET_CHECK(root >= 0 && root < world_size_, what, ": root ", root,
               " is not a rank of this group (expected 0 .. ", world_size_ - 1, ")");
    return enqueue(std::move(what), count * int64_t(dtype_size(dtype)),
                   [=](CommBackend& e) { return e.start_broadcast(buf, count, dtype, root); }, {});
  }

  std::shared_ptr<Work> all_gather(const void* send, void* recv, int64_t count, DType dtype,
                                   std::string what) override {
    check_comm_dtype(what, dtype);
    return enqueue(std::move(what), count * world_size_ * int64_t(dtype_size(dtype)),
                   [=](CommBackend& e) { return e.start_all_gather(send, recv, count, dtype); },
                   {});
  }

  std::shared_ptr<Work> reduce_scatter(const void* send, void* recv, int64_t count, DType dtype,
                                       ReduceOp op, std::string what) override {
    check_comm_dtype(what, dtype, op);
    const ReduceOp wire = op == ReduceOp::avg ? ReduceOp::sum : op;
    std::function<void()> after;
    if (op == ReduceOp::avg && world_size_ > 1)
      after = [recv, count, dtype, n = world_size_] { divide_buffer(recv, count, dtype, n); };
    return enqueue(
        std::move(what), count * world_size_ * int64_t(dtype_size(dtype)),
        [=](CommBackend& e) { return e.start_reduce_scatter(send, recv, count, dtype, wire); },
        std::move(after));
  }

  std::shared_ptr<Work> barrier(std::string what) override {
    return enqueue(std::move(what), 0, [](CommBackend& e) { return e.start_barrier(); }, {});
  }

  void check_same(
      const std::string& what, const std::vector<int64_t>& signature,
      const std::function<std::string(const std::vector<int64_t>&)>& describe) override {
    compare(what, what, signature, describe, "the same", cat(what, " (shape check)"));
  }
  // check_same with the record's key apart from the name in errors, and the error's
  // "expected <expected> on every rank".
  void compare(const std::string& what, const std::string& key,
               const std::vector<int64_t>& signature,
               const std::function<std::string(const std::vector<int64_t>&)>& describe,
               const std::string& expected, const std::string& call);

  // Waits for the queue, then ends the engine (finalize, or abort when broken) and the
  // thread. Bounded: a finalize that does not end within the timeout is left behind.
  void stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    std::unique_lock<std::mutex> lock(mu_);
    // Each queued collective is bounded by the timeout; so is the engine's finalize.
    while (!thread_done_) {
      if (finalizing_ && std::chrono::steady_clock::now() - finalize_start_ > timeout_) break;
      cv_.wait_for(lock, std::chrono::milliseconds(20));
    }
    const bool done = thread_done_;
    lock.unlock();
    if (done) {
      thread_.join();
    } else {
      std::fprintf(stderr,
                   "duet: distributed: shutdown: the %s engine did not finalize within %s "
                   "(a peer may not have reached shutdown); leaving it\n",
                   backend_name(backend_), format_timeout(timeout_).c_str());
      thread_.detach();
      leaked_ = true;
    }
  }

  bool leaked() const { return leaked_; }

  // The process is exiting with a failure: do not wait for the peers (a finalize would wait
  // for them while they wait in a collective for this rank). Breaks the group: queued and
  // in-flight collectives fail at once, and the engine is aborted instead of finalized.
  void abandon(const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (first_error_.empty()) first_error_ = why;
    }
    abandoned_.store(true, std::memory_order_release);
    cv_.notify_all();
  }

 private:
  std::shared_ptr<Work> enqueue(std::string what, int64_t bytes,
                                std::function<std::unique_ptr<Request>(CommBackend&)> start,
                                std::function<void()> after) {
    auto work = std::make_shared<WorkImpl>(waiters_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!first_error_.empty()) throw Error(broken_message(what));
      DUET_CHECK(!stopping_, "distributed: ", what, ": the process group is shutting down");
      queue_.push_back(Item{std::move(what), bytes, std::move(start), std::move(after), work});
    }
    cv_.notify_all();
    return work;
  }

  // Caller holds mu_ (or is the thread, which only reads first_error_ under mu_).
  std::string broken_message(const std::string& what) const {
    return cat("distributed: ", what, ": the process group is broken by an earlier failure (",
               first_error_, "); every collective fails until the job is restarted");
  }

  void run(std::promise<void> created) {
    pthread_setname_np(pthread_self(), "duet-comm");  // in top, gdb, /proc/*/task/*/comm
    try {
      CommInit init;
      init.timeout = timeout_;
      if (backend_ == Backend::nccl) {
        init.backend = bootstrap_engine();
        engine_ = load_comm_backend(init.backend, init);
        CommInit dev = init;
        dev.backend = Backend::nccl;
        dev.bootstrap = engine_.get();
        device_ = load_comm_backend(Backend::nccl, dev);
      } else {
        init.backend = backend_;
        engine_ = load_comm_backend(backend_, init);
      }
      rank_ = engine_->rank();
      world_size_ = engine_->world_size();
      local_rank_ = engine_->local_rank();
    } catch (...) {
      device_.reset();
      engine_.reset();
      {
        std::lock_guard<std::mutex> lock(mu_);
        thread_done_ = true;
      }
      created.set_exception(std::current_exception());
      return;
    }
    created.set_value();
    loop();
    {
      std::lock_guard<std::mutex> lock(mu_);
      finalizing_ = true;
      finalize_start_ = std::chrono::steady_clock::now();
    }
    bool broken = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      broken = !first_error_.empty();
    }
    if (broken) {
      if (device_) device_->abort(first_error_);
      engine_->abort(first_error_);
    }
    try {
      device_.reset();
      engine_.reset();
    } catch (...) {
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      thread_done_ = true;
    }
    cv_.notify_all();
  }

  void loop() {
    for (;;) {
      Item item;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing pending
        item = std::move(queue_.front());
        queue_.pop_front();
        if (!first_error_.empty()) {
          const std::string msg = broken_message(item.what);
          lock.unlock();
          item.work->finish(std::make_exception_ptr(Error(msg)));
          continue;
        }
      }
      try {
        execute(item);
        item.work->finish(nullptr);
      } catch (const std::exception& e) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (first_error_.empty()) first_error_ = e.what();
        }
        item.work->finish(std::current_exception());
      }
    }
  }

  // Runs one collective. An engine moves data only while it is polled (MPI's shared-memory
  // transport copies in fragments, a few per progress call), so polling with long sleeps in
  // between makes a large transfer many times slower, while spinning takes a core from the
  // compute threads (or the peer's, on a shared host) for as long as a peer is late. So:
  //  * a large collective (>= kArrivalBytes) first waits, patiently, in a barrier until every
  //    rank has arrived: sleeps of 10 us doubling up to poll_interval() (500 us);
  //  * then it polls the transfer back to back (yielding the core between polls) for about
  //    the time the data needs, then with sleeps of at most kTransferPoll (50 us): the peers
  //    are there, every poll moves data;
  //  * a smaller one polls back to back for 200 us, then patiently (it may wait for a peer).
  // While a thread is blocked in Work::wait() (its compute has nothing else to do), the
  // transfer polls back to back to the end; waiting for late peers stays patient.
  // All ranks decide alike (the barrier depends on the byte count only).
  void execute(Item& item) {
    // In a profile: one range per collective on this thread's lane of the trace, from the
    // arrival barrier to completion ("all_reduce of bucket 0 (...)"), beside the compute
    // thread's backward ops, so the trace shows what the communication overlaps.
    std::optional<profiler::Range> range;
    if (profiler::is_profiling()) range.emplace(item.what);
    const auto started = std::chrono::steady_clock::now();
    const bool large = item.bytes >= kArrivalBytes && world_size_ > 1;
    if (large) {
      std::unique_ptr<Request> arrived =
          engine_call(item, [&] { return engine_->start_barrier(); });
      poll(*arrived, item, started, std::chrono::microseconds(20), poll_interval(), false);
    }
    std::unique_ptr<Request> req = engine_call(item, [&] { return item.start(*engine_); });
    if (large) {
      // The time to copy the data at 250 MB/s, at most 2 s.
      const auto eager = std::chrono::microseconds(std::min<int64_t>(item.bytes / 250, 2000000));
      poll(*req, item, started, eager, std::min(poll_interval(), kTransferPoll), true);
    } else {
      poll(*req, item, started, std::chrono::microseconds(200), poll_interval(), false);
    }
    if (item.after) item.after();
  }

  // Polls req until it completes: back to back (yielding) for `eager`, then with sleeps of
  // 10 us doubling up to `longest`; back to back to the end when `spin_when_waited` and a
  // thread waits on a Work. Throws at the timeout (counted from `started`) or when abandoned.
  void poll(Request& req, const Item& item, std::chrono::steady_clock::time_point started,
            std::chrono::microseconds eager, std::chrono::microseconds longest,
            bool spin_when_waited) {
    const auto spin_until = std::chrono::steady_clock::now() + eager;
    auto interval = std::chrono::microseconds(10);
    while (!engine_call(item, [&] { return req.test(); })) {
      const auto now = std::chrono::steady_clock::now();
      if (now - started > timeout_)
        throw Error(timeout_message(item.what, rank_, world_size_, timeout_));
      if (abandoned_.load(std::memory_order_acquire))
        throw Error(cat("distributed: ", item.what, " abandoned: the process is exiting"));
      const bool waited = waiters_->load(std::memory_order_acquire) > 0;
      if (now < spin_until || longest.count() == 0 || (waited && spin_when_waited)) {
        std::this_thread::yield();
        continue;
      }
      interval = std::min(interval, longest);
      std::this_thread::sleep_for(interval);
      interval *= 2;
    }
  }

  // The longest sleep between polls of a transfer under way (execute()).
  static constexpr std::chrono::microseconds kTransferPoll{50};

  // Runs an engine call for `item`; its errors name the user's collective first ("distributed:
  // all_reduce (float32, 16 elements) failed on rank 0 of 2: <the engine's message>").
  template <class F>
  auto engine_call(const Item& item, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const std::exception& e) {
      throw Error(cat("distributed: ", item.what, " failed on rank ", rank_, " of ", world_size_,
                      ": ", e.what()));
    }
  }

  // Collectives from this size on wait for every rank in a barrier first (execute()).
  static constexpr int64_t kArrivalBytes = 256 * 1024;

  const Backend backend_;
  const std::chrono::milliseconds timeout_;
  const bool check_shapes_;
  int rank_ = 0, world_size_ = 1, local_rank_ = 0;

  std::unique_ptr<CommBackend> engine_;  // the thread's own
  std::unique_ptr<CommBackend> device_;  // nccl
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  bool thread_done_ = false;
  bool finalizing_ = false;
  bool leaked_ = false;
  std::atomic<bool> abandoned_{false};
  // Threads blocked in Work::wait() (shared with the works, which may outlive the group).
  std::shared_ptr<std::atomic<int>> waiters_ = std::make_shared<std::atomic<int>>(0);
  std::chrono::steady_clock::time_point finalize_start_;
  std::string first_error_;  // the error that broke the group ("" while healthy)
};

// The signature record every rank all-gathers: a fixed number of int64 so that ranks with
// different signatures still exchange the same byte count.
constexpr int kWhatWords = 8;  // 64 characters of `what`
constexpr int kSigWords = 22;  // the signature's first entries (dtype, ndim, dims)
constexpr int kRecordWords = 2 + kWhatWords + kSigWords;
constexpr int64_t kRecordMagic = 0x6475657473696700;  // "duetsig\0"

std::vector<int64_t> make_record(const std::string& what, const std::vector<int64_t>& sig) {
  std::vector<int64_t> rec(kRecordWords, 0);
  rec[0] = kRecordMagic;
  rec[1] = static_cast<int64_t>(sig.size());
  std::memcpy(rec.data() + 2, what.data(),
              std::min(what.size(), static_cast<size_t>(kWhatWords * 8 - 1)));
  // Entries past kSigWords - 1 fold into a hash in the last word.
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < sig.size(); ++i) {
    if (i < kSigWords - 1)
      rec[2 + kWhatWords + i] = sig[i];
    else
      h = (h ^ static_cast<uint64_t>(sig[i])) * 1099511628211ull;
  }
  rec[kRecordWords - 1] = static_cast<int64_t>(h);
  return rec;
}

std::string record_what(const int64_t* rec) {
  char text[kWhatWords * 8 + 1] = {};
  std::memcpy(text, rec + 2, kWhatWords * 8);
  return std::string(text);
}

std::vector<int64_t> record_sig(const int64_t* rec) {
  const int64_t n = std::min<int64_t>(rec[1], kSigWords - 1);
  return std::vector<int64_t>(rec + 2 + kWhatWords, rec + 2 + kWhatWords + std::max<int64_t>(n, 0));
}

void GroupImpl::compare(const std::string& what, const std::string& key,
                        const std::vector<int64_t>& signature,
                        const std::function<std::string(const std::vector<int64_t>&)>& describe,
                        const std::string& expected, const std::string& call) {
  if (world_size_ == 1) return;
  const std::vector<int64_t> mine = make_record(key, signature);
  std::vector<int64_t> all(static_cast<size_t>(kRecordWords) * world_size_);
  all_gather(mine.data(), all.data(), kRecordWords, DType::int64, call)->wait();
  const int64_t* r0 = all.data();
  for (int r = 1; r < world_size_; ++r) {
    const int64_t* rr = all.data() + static_cast<size_t>(r) * kRecordWords;
    if (std::equal(r0, r0 + kRecordWords, rr)) continue;
    const std::string w0 = record_what(r0), wr = record_what(rr);
    if (r0[0] != kRecordMagic || rr[0] != kRecordMagic || w0 != wr)
      throw Error(cat(what, ": rank 0 called ", w0, " but rank ", r, " called ",
                      rr[0] == kRecordMagic ? wr : std::string("something else"),
                      "; every rank must make the same collective calls in the same order"));
    const std::vector<int64_t> s0 = record_sig(r0), sr = record_sig(rr);
    throw Error(cat(what, ": rank 0 has ", describe(s0), " but rank ", r, " has ", describe(sr),
                    "; expected ", expected, " on every rank"));
  }
}

// ---- the one group of this process ----

std::mutex g_mu;                     // init / shutdown
std::unique_ptr<GroupImpl> g_group;  // null when not initialized
std::atomic<GroupImpl*> g_current{nullptr};
bool g_atexit_registered = false;

// At exit (on_exit gives the status): a failing process abandons the group instead of
// finalizing it with peers that may be waiting for it in a collective.
void shutdown_at_exit(int status, void*) {
  try {
    if (status != 0) {
      std::lock_guard<std::mutex> lock(g_mu);
      if (g_group)
        g_group->abandon(
            cat("the process is exiting with status ", status, " (rank ", g_group->rank(), ")"));
    }
    duet::distributed::shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duet: distributed: shutdown at exit: %s\n", e.what());
  }
}

std::chrono::milliseconds timeout_from_env(std::chrono::milliseconds fallback) {
  const char* env = std::getenv("DUET_DIST_TIMEOUT");
  if (!env || !*env) return fallback;
  char* end = nullptr;
  const double s = std::strtod(env, &end);
  DUET_CHECK(end && *end == '\0' && s > 0 && s < 1e7, "distributed: DUET_DIST_TIMEOUT=", env,
             " is not a positive number of seconds");
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000.0 + 0.5));
}

}  // namespace

ProcessGroup& ProcessGroup::get() {
  ProcessGroup* g = current();
  DUET_CHECK(g, "distributed: not initialized; call duet::distributed::init() first");
  return *g;
}

ProcessGroup* ProcessGroup::current() {
  return g_current.load(std::memory_order_acquire);
}

void check_same_tensor(ProcessGroup& group, const std::string& what, const std::string& key,
                       const Tensor* t, const std::string& call) {
  if (!group.check_shapes() || group.world_size() == 1) return;
  auto* impl = dynamic_cast<GroupImpl*>(&group);
  DUET_ASSERT(impl, "check_same_tensor: not the process group of process_group.cpp");
  if (t)
    impl->compare(what, key, tensor_signature(*t), describe_tensor_signature,
                  "the same dtype and shape", call);
  else
    impl->compare(
        what, key, {}, [](const std::vector<int64_t>&) { return std::string(); }, "the same", call);
}

void hold_until_done(const std::shared_ptr<Work>& work, std::shared_ptr<const void> keep) {
  if (auto* w = dynamic_cast<WorkImpl*>(work.get())) w->hold(std::move(keep));
}

}  // namespace detail

// ---- duet/distributed.h: the group's life and queries ----

void init(const InitOptions& options) {
  using namespace detail;
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_group)
    throw Error(cat("distributed: init: already initialized (", backend_name(g_group->backend()),
                    ", rank ", g_group->rank(), " of ", g_group->world_size(),
                    "); call shutdown() before a second init()"));
  InitOptions o = options;
  o.timeout = timeout_from_env(o.timeout);
  DUET_CHECK(o.timeout.count() > 0, "distributed: init: the timeout must be positive, got ",
             o.timeout.count(), " ms");
  (void)poll_interval();  // a bad $DUET_DIST_POLL_US fails here, not in the first collective
  const Backend backend = resolve(o.backend);
  auto group = std::make_unique<GroupImpl>(backend, o);
  try {
    group->start();  // throws: the plugin or engine is missing, or the environment is wrong
  } catch (...) {
    if (group->leaked()) (void)group.release();  // its thread still uses it
    throw;
  }
  g_group = std::move(group);
  g_current.store(g_group.get(), std::memory_order_release);
  if (!g_atexit_registered) {
    ::on_exit(shutdown_at_exit, nullptr);
    g_atexit_registered = true;
  }
}

void init(Backend backend) {
  InitOptions o;
  o.backend = backend;
  init(o);
}

bool is_initialized() {
  return detail::ProcessGroup::current() != nullptr;
}

void shutdown() {
  using namespace detail;
  std::unique_ptr<GroupImpl> group;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_current.store(nullptr, std::memory_order_release);
    group = std::move(g_group);
  }
  if (!group) return;
  group->stop();
  // A group whose engine did not finalize still has its thread inside the engine: keep the
  // object alive (the process is ending or unusable for this engine anyway).
  if (group->leaked()) (void)group.release();
}

int rank() {
  auto* g = detail::ProcessGroup::current();
  return g ? g->rank() : 0;
}
int world_size() {
  auto* g = detail::ProcessGroup::current();
  return g ? g->world_size() : 1;
}
int local_rank() {
  auto* g = detail::ProcessGroup::current();
  return g ? g->local_rank() : 0;
}
Backend backend() {
  return detail::ProcessGroup::get().backend();
}
bool is_main_process() {
  return rank() == 0;
}

}  // namespace duet::distributed

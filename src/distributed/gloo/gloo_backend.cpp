// libduet_gloo.so: the Gloo engine behind Backend::gloo (comm_backend.h), CPU tensors over
// TCP. The ranks meet through a TcpStore on MASTER_ADDR:MASTER_PORT (tcp_store.h), connect a
// full mesh of Gloo pairs, and drop the store.
//
// Gloo's collectives block: start_* runs the whole collective on the communication thread
// and returns a completed Request, so with Gloo a collective does not overlap the next one
// queued on that thread (the compute threads still run beside it). Each collective gets the
// group's timeout as Gloo's, so a dead or silent peer is an error (gloo::IoException,
// rethrown as duet::Error naming the collective), never a hang. Gloo has no reduce_scatter
// in this version: it is an allreduce of the whole buffer and a copy of this rank's slice.
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include "distributed/comm_backend.h"
#include "distributed/gloo/env.h"
#include "distributed/gloo/reduce_fns.h"
#include "distributed/gloo/tcp_store.h"
#include "duet/error.h"

namespace duet::distributed::gloo_engine {
namespace {

using detail::CommBackend;
using detail::CommInit;
using detail::Request;

class Done final : public Request {
 public:
  bool test() override { return true; }
};

std::string seconds_str(std::chrono::milliseconds ms) {
  return ::duet::detail::cat(static_cast<double>(ms.count()) / 1000.0, " s");
}

class GlooBackend final : public CommBackend {
 public:
  explicit GlooBackend(const CommInit& init) : timeout_(init.timeout) {
    GlooEnv env = read_gloo_env();
    rank_ = env.rank;
    world_size_ = env.world_size;
    ::gloo::transport::tcp::attr attr;
    if (!env.iface.empty()) {
      attr.iface = env.iface;
    } else {
      attr.hostname = local_address_towards(env.master_addr, env.master_port);
      DUET_CHECK(!attr.hostname.empty(), "distributed: gloo: no local interface reaches ",
                 "MASTER_ADDR=", env.master_addr, "; set GLOO_SOCKET_IFNAME to the interface");
    }
    guard("rendezvous", [&] {
      auto store = std::make_unique<TcpStore>(TcpStoreOptions{.host = env.master_addr,
                                                              .port = env.master_port,
                                                              .server = rank_ == 0,
                                                              .world_size = world_size_,
                                                              .timeout = timeout_});
      local_rank_ = env.local_rank >= 0 ? env.local_rank : count_local_rank(*store);
      auto device = ::gloo::transport::tcp::CreateDevice(attr);
      context_ = std::make_shared<::gloo::rendezvous::Context>(rank_, world_size_);
      context_->setTimeout(timeout_);
      context_->connectFullMesh(*store, device);
      // After this barrier every rank is done with the store; rank 0 closes it.
      ::gloo::BarrierOptions opts(context_);
      opts.setTag(next_tag_++);
      ::gloo::barrier(opts);
    });
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  const char* name() const override { return "gloo"; }

  std::unique_ptr<Request> start_all_reduce(void* buf, int64_t count, DType dtype,
                                            ReduceOp op) override {
    if (count > 0) {
      guard(::duet::detail::cat("all_reduce (", dtype_name(dtype), ", ", count, " elements, ",
                                reduce_op_name(op), ")"),
            [&] { all_reduce(buf, count, dtype, op); });
    }
    return std::make_unique<Done>();
  }

  std::unique_ptr<Request> start_broadcast(void* buf, int64_t count, DType dtype,
                                           int root) override {
    DUET_CHECK(root >= 0 && root < world_size_, "distributed: gloo: broadcast from root ", root,
               "; expected a rank in 0..", world_size_ - 1);
    if (count > 0) {
      guard(::duet::detail::cat("broadcast (", dtype_name(dtype), ", ", count, " elements, root ",
                                root, ")"),
            [&] {
              ::gloo::BroadcastOptions opts(context_);
              opts.setOutput(static_cast<uint8_t*>(buf), bytes(count, dtype));
              opts.setRoot(root);
              opts.setTag(next_tag_++);
              opts.setTimeout(timeout_);
              ::gloo::broadcast(opts);
            });
    }
    return std::make_unique<Done>();
  }

  std::unique_ptr<Request> start_all_gather(const void* send, void* recv, int64_t count,
                                            DType dtype) override {
    if (count > 0) {
      guard(::duet::detail::cat("all_gather (", dtype_name(dtype), ", ", count,
                                " elements per rank)"),
            [&] {
              size_t n = bytes(count, dtype);
              // Gloo reads the input while it writes the output: never let them overlap.
              std::vector<uint8_t> copy(static_cast<const uint8_t*>(send),
                                        static_cast<const uint8_t*>(send) + n);
              ::gloo::AllgatherOptions opts(context_);
              opts.setInput(copy.data(), n);
              opts.setOutput(static_cast<uint8_t*>(recv), n * static_cast<size_t>(world_size_));
              opts.setTag(next_tag_++);
              opts.setTimeout(timeout_);
              ::gloo::allgather(opts);
            });
    }
    return std::make_unique<Done>();
  }

  std::unique_ptr<Request> start_reduce_scatter(const void* send, void* recv, int64_t count,
                                                DType dtype, ReduceOp op) override {
    if (count > 0) {
      guard(::duet::detail::cat("reduce_scatter (", dtype_name(dtype), ", ", count,
                                " elements per rank, ", reduce_op_name(op), ")"),
            [&] {
              size_t n = bytes(count, dtype);
              std::vector<uint8_t> all(
                  static_cast<const uint8_t*>(send),
                  static_cast<const uint8_t*>(send) + n * static_cast<size_t>(world_size_));
              all_reduce(all.data(), count * world_size_, dtype, op);
              std::memcpy(recv, all.data() + n * static_cast<size_t>(rank_), n);
            });
    }
    return std::make_unique<Done>();
  }

  std::unique_ptr<Request> start_barrier() override {
    guard("barrier", [&] {
      ::gloo::BarrierOptions opts(context_);
      opts.setTag(next_tag_++);
      opts.setTimeout(timeout_);
      ::gloo::barrier(opts);
    });
    return std::make_unique<Done>();
  }

 private:
  static size_t bytes(int64_t count, DType dtype) {
    return static_cast<size_t>(count) * dtype_size(dtype);
  }

  template <class T>
  void all_reduce_as(void* buf, int64_t count, ReduceFn fn) {
    ::gloo::AllreduceOptions opts(context_);
    opts.setOutput(static_cast<T*>(buf), static_cast<size_t>(count));
    opts.setReduceFunction(std::move(fn));
    opts.setTag(next_tag_++);
    opts.setTimeout(timeout_);
    ::gloo::allreduce(opts);
  }
  void all_reduce(void* buf, int64_t count, DType dtype, ReduceOp op) {
    ReduceFn fn = reduce_fn(dtype, op);
    switch (dtype_size(dtype)) {
      case 1:
        return all_reduce_as<uint8_t>(buf, count, std::move(fn));
      case 2:
        return all_reduce_as<uint16_t>(buf, count, std::move(fn));
      case 4:
        return all_reduce_as<uint32_t>(buf, count, std::move(fn));
      default:
        return all_reduce_as<uint64_t>(buf, count, std::move(fn));
    }
  }

  // Runs f; an engine error becomes a duet::Error naming `what`, the rank and the timeout.
  template <class F>
  void guard(const std::string& what, F&& f) {
    try {
      f();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(::duet::detail::cat("distributed: gloo ", what, " failed on rank ", rank_, " of ",
                                      world_size_, ": ", e.what(),
                                      " (a peer exited, or did not make the same call within the ",
                                      "timeout of ", seconds_str(timeout_), ")"));
    }
  }

  // The ranks below this one that run on the same host (by host name).
  int count_local_rank(TcpStore& store) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    std::string mine(host);
    store.set("duet/host/" + std::to_string(rank_), std::vector<char>(mine.begin(), mine.end()));
    int local = 0;
    for (int r = 0; r < rank_; ++r) {
      auto v = store.get("duet/host/" + std::to_string(r));
      if (std::string(v.begin(), v.end()) == mine) ++local;
    }
    return local;
  }

  std::chrono::milliseconds timeout_;
  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  uint32_t next_tag_ = 0;
  std::shared_ptr<::gloo::rendezvous::Context> context_;
};

}  // namespace
}  // namespace duet::distributed::gloo_engine

extern "C" __attribute__((visibility("default"))) duet::distributed::detail::CommBackend*
duet_comm_backend_create(const duet::distributed::detail::CommInit& init) {
  DUET_CHECK(init.abi == duet::distributed::detail::kCommBackendAbi,
             "distributed: libduet_gloo.so speaks plugin ABI ",
             duet::distributed::detail::kCommBackendAbi, " but libduet asked for ", init.abi,
             "; rebuild the plugin with the same duet");
  return new duet::distributed::gloo_engine::GlooBackend(init);
}

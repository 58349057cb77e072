// duet/distributed.h's collectives on tensors: argument checks, the cross-rank shape check,
// then the process group's raw collectives (process_group.cpp). CPU tensors go through the
// communication thread; CUDA tensors to the group's device engine (NCCL), when it has one.
#include <thread>

#include "distributed/group_internal.h"
#include "duet/error.h"
#include "duet/ops/elementwise.h"

namespace duet::distributed {
namespace detail {

std::vector<int64_t> tensor_signature(const Tensor& t) {
  std::vector<int64_t> sig;
  sig.reserve(2 + t.shape().size());
  sig.push_back(static_cast<int64_t>(t.dtype()));
  sig.push_back(t.dim());
  for (int64_t d : t.shape()) sig.push_back(d);
  return sig;
}

std::string describe_tensor_signature(const std::vector<int64_t>& sig) {
  if (sig.size() < 2) return "(no tensor)";
  const int64_t code = sig[0];
  const std::string dtype = code >= 0 && code <= static_cast<int64_t>(DType::bfloat16)
                                ? std::string(dtype_name(static_cast<DType>(code)))
                                : cat("dtype#", code);
  Shape shape(sig.begin() + 2, sig.end());
  std::string text = cat(dtype, " ", shape_str(shape));
  if (static_cast<int64_t>(shape.size()) < sig[1]) text += " (more dims not shown)";
  return text;
}

}  // namespace detail

namespace {

using detail::ProcessGroup;

// A collective that already ran (the device engine's, which are stream-ordered).
class DoneWork final : public Work {
 public:
  bool completed() const override { return true; }
  void wait() override {}
};

void check_tensor(const char* what, const Tensor& t, ReduceOp op = ReduceOp::sum) {
  DUET_CHECK(t.defined(), what, ": the tensor is undefined");
  DUET_CHECK(!t.is_symbolic(), what,
             ": the tensor is a graph-mode (traced) tensor; inside a compiled step the "
             "gradient all-reduce is a graph op (DistributedDataParallel in graph mode)");
  DUET_CHECK(t.is_contiguous(), what, ": the tensor (", dtype_name(t.dtype()), " ",
             shape_str(t.shape()), ", strides ", shape_str(t.strides()),
             ") is not contiguous; pass t.contiguous() and copy the result back");
  detail::check_comm_dtype(what, t.dtype(), op);
}

// "all_reduce (float32, 1000 elements)".
std::string describe_call(const char* what, const Tensor& t) {
  return detail::cat(what, " (", dtype_name(t.dtype()), ", ", t.numel(), " elements)");
}

bool on_device(const Tensor& t) {
  return t.device().type != DeviceType::cpu;
}

// The device engine for t's collective, or the error that there is none.
detail::CommBackend& device_engine_for(ProcessGroup& g, const char* what, const Tensor& t) {
  detail::CommBackend* e = g.device_engine();
  DUET_CHECK(e, what, ": the tensor is on ", t.device().str(), " but the ",
             backend_name(g.backend()),
             " process group serves CPU tensors; init(Backend::nccl) for CUDA tensors, or copy "
             "the tensor to the CPU");
  return *e;
}

// Runs a device engine's request on the calling thread, bounded by the group's timeout.
void run_on_device(ProcessGroup& g, const std::string& what, std::unique_ptr<detail::Request> req) {
  const auto started = std::chrono::steady_clock::now();
  while (!req->test()) {
    if (std::chrono::steady_clock::now() - started > g.timeout())
      throw Error(detail::timeout_message(what, g.rank(), g.world_size(), g.timeout()));
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

ReduceOp wire_op(ReduceOp op) {
  return op == ReduceOp::avg ? ReduceOp::sum : op;
}

std::shared_ptr<Work> with_tensors(std::shared_ptr<Work> work, const Tensor& a,
                                   const Tensor& b = Tensor()) {
  detail::hold_until_done(work, std::make_shared<std::pair<Tensor, Tensor>>(a, b));
  return work;
}

}  // namespace

std::shared_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op) {
  ProcessGroup& g = ProcessGroup::get();
  check_tensor("all_reduce", t, op);
  const std::string what = describe_call("all_reduce", t);
  detail::check_same_tensor(g, "all_reduce", detail::cat("all_reduce (", reduce_op_name(op), ")"),
                            &t, what);
  if (on_device(t)) {
    detail::CommBackend& e = device_engine_for(g, "all_reduce", t);
    run_on_device(g, what, e.start_all_reduce(t.data_ptr(), t.numel(), t.dtype(), wire_op(op)));
    if (op == ReduceOp::avg && g.world_size() > 1) t.copy_(duet::div(t, double(g.world_size())));
    return std::make_shared<DoneWork>();
  }
  return with_tensors(g.all_reduce(t.data_ptr(), t.numel(), t.dtype(), op, what), t);
}

void all_reduce(Tensor& t, ReduceOp op) {
  all_reduce_async(t, op)->wait();
}

void broadcast(Tensor& t, int root) {
  ProcessGroup& g = ProcessGroup::get();
  check_tensor("broadcast", t);
  DUET_CHECK(root >= 0 && root < g.world_size(), "broadcast: root ", root,
             " is not a rank of this group (expected 0 .. ", g.world_size() - 1, ")");
  const std::string what = describe_call("broadcast", t);
  detail::check_same_tensor(g, "broadcast", detail::cat("broadcast (root ", root, ")"), &t, what);
  if (on_device(t)) {
    detail::CommBackend& e = device_engine_for(g, "broadcast", t);
    run_on_device(g, what, e.start_broadcast(t.data_ptr(), t.numel(), t.dtype(), root));
    return;
  }
  g.broadcast(t.data_ptr(), t.numel(), t.dtype(), root, what)->wait();
}

Tensor all_gather(const Tensor& t) {
  ProcessGroup& g = ProcessGroup::get();
  check_tensor("all_gather", t);
  detail::check_same_tensor(g, "all_gather", "all_gather", &t, describe_call("all_gather", t));
  Shape shape = t.shape();
  if (shape.empty())
    shape = {g.world_size()};
  else
    shape[0] *= g.world_size();
  Tensor out = Tensor::empty(shape, t.dtype(), t.device());
  const std::string what = describe_call("all_gather", t);
  if (on_device(t)) {
    detail::CommBackend& e = device_engine_for(g, "all_gather", t);
    run_on_device(g, what, e.start_all_gather(t.data_ptr(), out.data_ptr(), t.numel(), t.dtype()));
    return out;
  }
  g.all_gather(t.data_ptr(), out.data_ptr(), t.numel(), t.dtype(), what)->wait();
  return out;
}

Tensor reduce_scatter(const Tensor& t, ReduceOp op) {
  ProcessGroup& g = ProcessGroup::get();
  check_tensor("reduce_scatter", t, op);
  const int n = g.world_size();
  DUET_CHECK(t.dim() >= 1, "reduce_scatter: the tensor is 0-d (", dtype_name(t.dtype()),
             " ()); expected at least one dim, its dim 0 divisible by the world size ", n);
  DUET_CHECK(t.shape()[0] % n == 0, "reduce_scatter: dim 0 of ", dtype_name(t.dtype()), " ",
             shape_str(t.shape()), " is ", t.shape()[0], ", not divisible by the world size ", n);
  detail::check_same_tensor(g, "reduce_scatter",
                            detail::cat("reduce_scatter (", reduce_op_name(op), ")"), &t,
                            describe_call("reduce_scatter", t));
  Shape shape = t.shape();
  shape[0] /= n;
  Tensor out = Tensor::empty(shape, t.dtype(), t.device());
  const std::string what = describe_call("reduce_scatter", t);
  if (on_device(t)) {
    detail::CommBackend& e = device_engine_for(g, "reduce_scatter", t);
    run_on_device(
        g, what,
        e.start_reduce_scatter(t.data_ptr(), out.data_ptr(), out.numel(), t.dtype(), wire_op(op)));
    if (op == ReduceOp::avg && n > 1) out.copy_(duet::div(out, double(n)));
    return out;
  }
  g.reduce_scatter(t.data_ptr(), out.data_ptr(), out.numel(), t.dtype(), op, what)->wait();
  return out;
}

void barrier() {
  ProcessGroup& g = ProcessGroup::get();
  detail::check_same_tensor(g, "barrier", "barrier", nullptr, "barrier");
  g.barrier("barrier")->wait();
}

}  // namespace duet::distributed

// Collective ops: all_reduce_start and all_reduce_wait, the two halves of an asynchronous
// all-reduce over the process group (src/distributed/process_group.h). Graph-mode data
// parallelism (src/distributed/graph_reduce.cpp) records one pair per gradient bucket and the
// schedule pass (src/graph/pass_schedule_collectives.cpp) puts the rest of backward between
// them, so the communication overlaps compute.
//
//   %40 = concat(%31, %35, %39)             -> (1186)     the bucket's flat gradients
//   %41 = all_reduce_start(%40) [op=avg, tag=3]  -> (1)   queues the all-reduce, in place on %40
//   ...                                                  the rest of backward runs here
//   %90 = all_reduce_wait(%40, %41) [op=avg, tag=3] -> (1186)  waits; the averaged bucket
//
// The CPU kernels: start hands the bucket's buffer to ProcessGroup::all_reduce (queued on the
// communication thread) and records the Work under its tag; wait takes the tag's Work, waits
// (its error, a timeout included, becomes the kernel's duet::Error) and copies the bucket into
// its output unless the in-place pass gave the output the bucket's own buffer. CUDA kernels
// are registered by the NCCL plugin (register_kernel), stream-ordered.
//
// Why every pass leaves the pair correct (OpTrait::collective, declared here):
//   - start declares mutates_inputs = bit 0 (it writes the bucket, asynchronously). So DCE
//     keeps it, CSE never merges it, constant folding and hoisting never run it, and readers
//     of the bucket are not merged or folded across it (analyze_mutations marks the bucket
//     written); the bucket must be contiguous (prepare checks written inputs).
//   - wait is not mutating but collective: DCE keeps it (a start without its wait would leave
//     a Work writing into a dead buffer), CSE, constant folding and hoisting skip collective
//     nodes (a compile must never communicate; two pairs never merge, their tags differ too).
//   - the token orders wait after start; the wait reads the bucket, so the planner keeps the
//     bucket's buffer live (no other value placed in it) from the concat to the wait.
//   - the in-place pass can only give the bucket's buffer to the bucket's last reader: the
//     wait (inplace_input = 0), which is exactly the intended reuse. No other node writes the
//     buffer between start and wait, since its only readers are the start and the wait
//     (graph_reduce always builds the bucket with a concat or a clone: a fresh buffer, never a
//     view of a gradient someone else reads).
//   - the schedule passes move a start only after its inputs, and the wait only later.
// Not differentiable: asking for a gradient through either op is an error.
#include "ops/collective_ops.h"

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include "distributed/process_group.h"
#include "duet/source_location.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace distributed::detail {
namespace {

struct PendingEntry {
  std::shared_ptr<Work> work;
  Tensor bucket;  // keeps the buffer the engine writes alive until the wait
};

struct Pending {
  std::mutex mutex;
  std::map<int64_t, PendingEntry> entries;
};

Pending& pending() {
  static Pending* p = new Pending();  // never destroyed: kernels may run during exit
  return *p;
}

}  // namespace

int64_t new_collective_tag() {
  static std::atomic<int64_t> next{1};
  return next.fetch_add(1);
}

int64_t pending_collectives() {
  std::lock_guard<std::mutex> lock(pending().mutex);
  return static_cast<int64_t>(pending().entries.size());
}

}  // namespace distributed::detail

namespace {

using distributed::ReduceOp;
using distributed::Work;

ReduceOp reduce_op_of(const char* op, const Attrs& attrs) {
  const std::string& s = attrs.s("op");
  if (s == "sum") return ReduceOp::sum;
  if (s == "avg") return ReduceOp::avg;
  if (s == "min") return ReduceOp::min;
  if (s == "max") return ReduceOp::max;
  // At most 40 characters of what was given (attrs may come from anywhere).
  const std::string shown = s.size() > 40 ? s.substr(0, 40) + "..." : s;
  throw Error(
      detail::cat(op, ": op = \"", shown, "\" (expected \"sum\", \"avg\", \"min\" or \"max\")"));
}

// "bucket 3 (float32, 1186 elements, tag 7)"
std::string describe(const Tensor& bucket, const Attrs& attrs) {
  const int64_t index = attrs.i("bucket", -1);
  return detail::cat(index >= 0 ? detail::cat("bucket ", index, " ") : std::string("bucket "),
                     "(", bucket.dtype(), ", ", bucket.numel(), " elements, tag ",
                     attrs.i("tag"), ")");
}

// Shared by both ops: attrs and the bucket.
void check_common(const InferArgs& a) {
  const ReduceOp op = reduce_op_of(a.op, a.attrs);
  const int64_t tag = a.attrs.i("tag");
  DUET_CHECK(tag > 0, a.op, ": tag = ", tag, " (expected a positive tag from new_collective_tag)");
  const TensorMeta& b = a.inputs[0];
  DUET_CHECK(op != ReduceOp::avg || is_floating(b.dtype), a.op, ": op = avg on a ", b.dtype,
             " bucket (expected float32 or float64; use sum for integers)");
  DUET_CHECK(b.dtype != DType::bool_ || op == ReduceOp::sum || op == ReduceOp::max, a.op,
             ": op = ", a.attrs.s("op"), " on a bool bucket (expected sum or max)");
}

// input: bucket (any shape); output: the token, int64 (1).
std::vector<TensorMeta> all_reduce_start_infer(const InferArgs& a) {
  check_common(a);
  return {{{1}, DType::int64, a.inputs[0].device}};
}

// inputs: bucket, token (int64 (1)); output: like bucket.
std::vector<TensorMeta> all_reduce_wait_infer(const InferArgs& a) {
  check_common(a);
  const TensorMeta& t = a.inputs[1];
  DUET_CHECK(t.dtype == DType::int64 && t.shape == Shape{1}, a.op, ": token has shape ",
             shape_str(t.shape), " ", t.dtype,
             " (expected the int64 (1) token of an all_reduce_start)");
  return {a.inputs[0]};
}

std::vector<Tensor> not_differentiable(const GradArgs& g) {
  throw Error(detail::cat("all_reduce_wait: not differentiable (tag ", g.attrs.i("tag"),
                          "): a gradient all-reduce runs after backward; compute gradients "
                          "before reducing them"));
}

void all_reduce_start_cpu(const KernelArgs& k) {
  using distributed::detail::ProcessGroup;
  ProcessGroup* pg = ProcessGroup::current();
  DUET_CHECK(pg, "all_reduce_start: distributed is not initialized; call "
                 "duet::distributed::init() first");
  const Tensor& bucket = k.inputs[0];
  const int64_t tag = k.attrs.i("tag");
  const ReduceOp op = reduce_op_of("all_reduce_start", k.attrs);
  auto& reg = distributed::detail::pending();
  distributed::detail::PendingEntry stale;
  {
    std::lock_guard<std::mutex> lock(reg.mutex);
    auto it = reg.entries.find(tag);
    if (it != reg.entries.end()) {  // an earlier run stopped between start and wait
      stale = std::move(it->second);
      reg.entries.erase(it);
    }
  }
  if (stale.work) {
    try {
      stale.work->wait();
    } catch (const Error&) {
      // That run already failed; the group is broken and the all_reduce below throws too.
    }
  }
  std::shared_ptr<Work> work = pg->all_reduce(bucket.data_ptr(), bucket.numel(), bucket.dtype(),
                                              op, "all_reduce of " + describe(bucket, k.attrs));
  {
    std::lock_guard<std::mutex> lock(reg.mutex);
    reg.entries[tag] = {std::move(work), bucket};
  }
  static_cast<int64_t*>(k.outputs[0].data_ptr())[0] = tag;
}

void all_reduce_wait_cpu(const KernelArgs& k) {
  const Tensor& bucket = k.inputs[0];
  const int64_t tag = k.attrs.i("tag");
  auto& reg = distributed::detail::pending();
  distributed::detail::PendingEntry entry;
  {
    std::lock_guard<std::mutex> lock(reg.mutex);
    auto it = reg.entries.find(tag);
    if (it != reg.entries.end()) {
      entry = std::move(it->second);
      reg.entries.erase(it);
    }
  }
  DUET_CHECK(entry.work, "all_reduce_wait: no all_reduce_start with tag ", tag,
             " is pending for ", describe(bucket, k.attrs),
             " (expected its all_reduce_start to run first, once per wait)");
  DUET_CHECK(entry.bucket.data_ptr() == bucket.data_ptr(), "all_reduce_wait: ",
             describe(bucket, k.attrs),
             " is not the buffer its all_reduce_start reduced (expected the same bucket)");
  try {
    entry.work->wait();
  } catch (const Error& e) {
    throw Error(detail::cat("all_reduce_wait: ", describe(bucket, k.attrs), ": ", e.what()));
  }
  Tensor& out = k.outputs[0];
  if (out.data_ptr() != bucket.data_ptr())
    std::memcpy(out.data_ptr(), bucket.data_ptr(),
                static_cast<size_t>(bucket.numel()) * dtype_size(bucket.dtype()));
}

// Collectives need an initialized process group, which the op-table test process does not
// have: the samples only show the arity and attrs (infer, the hostile-attribute test); the
// ops run in tests/distributed (one process) and tests/mpirun (two).
constexpr uint32_t kNeedsGroup =
    static_cast<uint32_t>(SampleCheck::no_grad) | static_cast<uint32_t>(SampleCheck::no_inplace) |
    static_cast<uint32_t>(SampleCheck::no_graph) |
    static_cast<uint32_t>(SampleCheck::no_float64_ref) |
    static_cast<uint32_t>(SampleCheck::no_cuda);

Attrs sample_attrs(const char* op) {
  return Attrs().set("op", std::string(op)).set("tag", int64_t{1});
}
std::vector<OpSample> all_reduce_start_samples() {
  using namespace samples;
  return {{.inputs = {normal({7})}, .attrs = sample_attrs("avg"), .skip = kNeedsGroup,
           .note = "needs a process group"}};
}
std::vector<OpSample> all_reduce_wait_samples() {
  using namespace samples;
  return {{.inputs = {normal({7}), index({1}, 2)}, .attrs = sample_attrs("sum"),
           .skip = kNeedsGroup, .note = "needs a process group"}};
}

}  // namespace

DUET_DEFINE_OP(all_reduce_start_op,
               {.id = OpId::all_reduce_start,
                .traits = static_cast<uint32_t>(OpTrait::collective),
                .infer = all_reduce_start_infer,
                .mutates_inputs = 0b1,
                .nondiff_inputs = 0b1,
                .kernels = {all_reduce_start_cpu},
                .samples = all_reduce_start_samples,
                .low_precision = false})
DUET_DEFINE_OP(all_reduce_wait_op, {.id = OpId::all_reduce_wait,
                                    .num_inputs = 2,
                                    .traits = static_cast<uint32_t>(OpTrait::collective),
                                    .infer = all_reduce_wait_infer,
                                    .grad = not_differentiable,
                                    .nondiff_inputs = 0b10,
                                    .kernels = {all_reduce_wait_cpu},
                                    .inplace_input = 0,
                                    .samples = all_reduce_wait_samples,
                                    .low_precision = false})

namespace distributed::detail {

namespace {
const char* op_string(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::min: return "min";
    case ReduceOp::max: return "max";
  }
  return "sum";
}
Attrs collective_attrs(ReduceOp op, int64_t tag, int64_t bucket_index) {
  Attrs a = Attrs().set("op", std::string(op_string(op))).set("tag", tag);
  if (bucket_index >= 0) a.set("bucket", bucket_index);
  return a;
}
}  // namespace

Tensor all_reduce_start(const Tensor& bucket, ReduceOp op, int64_t tag, int64_t bucket_index,
                        std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(all_reduce_start_op(), {bucket}, collective_attrs(op, tag, bucket_index));
}

Tensor all_reduce_wait(const Tensor& bucket, const Tensor& token, ReduceOp op, int64_t tag,
                       int64_t bucket_index, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(all_reduce_wait_op(), {bucket, token}, collective_attrs(op, tag, bucket_index));
}

}  // namespace distributed::detail
}  // namespace duet

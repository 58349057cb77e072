// GradientReducer (duet/distributed/ddp.h): bucketed gradient all-reduce, overlapped with
// eager backward through the grad-ready hooks (duet/autograd.h).
//
// Per backward (armed by prepare_for_backward):
//   hook(param i)  -> i ready; the first one queues finish() as the end-of-backward callback;
//                     its bucket's last one makes the bucket ready; ready buckets are launched
//                     strictly in bucket order (a bucket ready early waits for the ones before
//                     it: every rank must start the same collectives in the same order)
//   launch(b)      -> copy the bucket's gradients into its flat buffer, start the average on
//                     the communication thread (ProcessGroup::all_reduce)
//   finish()       -> params with no gradient this backward count as ready (their current
//                     .grad, zeros when none); launch the rest; wait; copy back into .grad
#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>

#include "core/tensor_impl.h"
#include "distributed/buckets.h"
#include "distributed/graph_reduce.h"
#include "distributed/process_group.h"
#include "duet/autograd.h"
#include "duet/distributed/ddp.h"
#include "duet/error.h"
#include "duet/profiler.h"

namespace duet::distributed {

using Clock = std::chrono::steady_clock;

struct GradientReducer::Impl {
  std::vector<Tensor> params;
  DDPOptions options;
  detail::ProcessGroup* group = nullptr;
  std::vector<BucketInfo> buckets;
  std::vector<int64_t> param_bucket;  // -1: not reduced (does not require grad)
  std::vector<int64_t> param_offset;  // first element in its bucket's flat buffer
  std::vector<Tensor> flat;           // per bucket: (numel) on the parameters' device
  std::vector<int64_t> hook_ids;

  // The backward in flight.
  bool armed = false;
  bool callback_queued = false;
  bool no_sync = false;
  Clock::time_point t0;
  std::vector<char> param_ready;
  std::vector<int64_t> bucket_pending;  // parameters of the bucket not ready yet
  std::vector<char> bucket_ready;
  size_t next_launch = 0;
  std::vector<std::shared_ptr<Work>> works;  // per bucket, null until launched
  std::vector<char> work_seen_done;
  std::vector<Timing> timings;
  double backward_seconds = 0;

  double now() const { return std::chrono::duration<double>(Clock::now() - t0).count(); }

  std::string bucket_what(size_t b) const {
    return ::duet::detail::cat("DistributedDataParallel: all_reduce of gradient bucket ", b, " (",
                               dtype_name(buckets[b].dtype), ", ", buckets[b].numel, " elements)");
  }

  // A parameter's slot in its bucket's flat buffer, shaped like the parameter.
  Tensor slot(size_t i) const {
    const Tensor& f = flat[static_cast<size_t>(param_bucket[i])];
    const Tensor& p = params[i];
    return f.slice(0, param_offset[i], param_offset[i] + p.numel()).reshape(p.shape());
  }

  void on_ready(size_t i) {
    if (!armed || param_ready[i]) return;
    param_ready[i] = 1;
    if (!callback_queued) {
      callback_queued = true;
      queue_backward_callback([this] { finish(); });
    }
    const size_t b = static_cast<size_t>(param_bucket[i]);
    if (--bucket_pending[b] == 0) {
      bucket_ready[b] = 1;
      timings[b].ready = now();
      if (options.overlap) launch_ready();
    }
    poll();
  }

  // Launches the ready buckets that every earlier bucket has been launched before.
  void launch_ready() {
    while (next_launch < buckets.size() && bucket_ready[next_launch]) launch(next_launch++);
  }

  void launch(size_t b) {
    NoGradGuard no_grad;
    std::optional<profiler::Range> range;  // in a profile: "ddp.launch bucket 3"
    if (profiler::is_profiling()) range.emplace(::duet::detail::cat("ddp.launch bucket ", b));
    for (int64_t i : buckets[b].params) {
      const Tensor& g = params[static_cast<size_t>(i)].grad();
      if (g.defined()) {
        slot(static_cast<size_t>(i)).copy_(g);
      } else {
        slot(static_cast<size_t>(i)).zero_();
      }
    }
    timings[b].started = now();
    Tensor& f = flat[b];
    if (f.device().type == DeviceType::cpu) {
      works[b] =
          group->all_reduce(f.impl()->bytes(), f.numel(), f.dtype(), ReduceOp::avg, bucket_what(b));
    } else {
      works[b] = all_reduce_async(f, ReduceOp::avg);  // the device engine (NCCL)
    }
  }

  // Notes the completion time of launched buckets that completed since the last look.
  void poll() {
    for (size_t b = 0; b < next_launch; ++b) {
      if (!work_seen_done[b] && works[b]->completed()) {
        work_seen_done[b] = 1;
        timings[b].completed = now();
      }
    }
  }

  // Waits for the launched buckets, ignoring their errors (the error path: the buffers must
  // outlive the collectives writing them).
  void drain() noexcept {
    for (auto& w : works) {
      if (!w) continue;
      try {
        w->wait();
      } catch (...) {
      }
      w.reset();
    }
  }

  void finish() {
    if (!armed) return;
    armed = false;
    backward_seconds = now();
    if (std::current_exception()) {  // backward failed: reduce nothing, keep buffers safe
      drain();
      return;
    }
    NoGradGuard no_grad;
    // Parameters that got no gradient in this backward (unused in forward) are ready now.
    for (size_t b = 0; b < buckets.size(); ++b) {
      if (bucket_ready[b]) continue;
      bucket_ready[b] = 1;
      timings[b].ready = now();
    }
    launch_ready();
    poll();
    for (size_t b = 0; b < buckets.size(); ++b) {
      std::optional<profiler::Range> range;  // the wait and the copy back
      if (profiler::is_profiling()) range.emplace(::duet::detail::cat("ddp.finish bucket ", b));
      try {
        works[b]->wait();
      } catch (...) {
        drain();
        throw;
      }
      works[b].reset();
      if (!work_seen_done[b]) {
        work_seen_done[b] = 1;
        timings[b].completed = now();
      }
      for (int64_t i : buckets[b].params) {
        const Tensor& p = params[static_cast<size_t>(i)];
        Tensor avg = slot(static_cast<size_t>(i));
        Tensor g = p.grad();
        if (options.gradient_as_bucket_view) {
          p.set_grad(avg);
        } else if (g.defined() && g.dtype() == p.dtype() && g.is_contiguous()) {
          g.copy_(avg);
        } else {
          p.set_grad(avg.clone());
        }
      }
    }
  }
};

GradientReducer::GradientReducer(std::vector<Tensor> params, const DDPOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.group = &detail::ProcessGroup::get();
  m.options = options;
  for (size_t i = 0; i < params.size(); ++i) {
    DUET_CHECK(params[i].defined(), "GradientReducer: parameter ", i, " is undefined");
    DUET_CHECK(!params[i].is_symbolic(), "GradientReducer: parameter ", i,
               " is a graph-mode (symbolic) tensor; expected the model's parameters");
    for (size_t j = 0; j < i; ++j)
      DUET_CHECK(!params[i].is_same(params[j]), "GradientReducer: parameters ", j, " and ", i,
                 " are the same tensor; expected each parameter once");
  }
  m.params = std::move(params);
  m.buckets = detail::assign_buckets(m.params, options.bucket_cap_mb);
  detail::check_same_entries(*m.group, "DistributedDataParallel: gradient buckets",
                             "layout entries (buckets + parameters)",
                             detail::bucket_layout(m.buckets, m.params),
                             detail::describe_bucket_entry);

  const size_t n = m.params.size();
  m.param_bucket.assign(n, -1);
  m.param_offset.assign(n, 0);
  for (size_t b = 0; b < m.buckets.size(); ++b) {
    int64_t off = 0;
    for (int64_t i : m.buckets[b].params) {
      m.param_bucket[static_cast<size_t>(i)] = static_cast<int64_t>(b);
      m.param_offset[static_cast<size_t>(i)] = off;
      off += m.params[static_cast<size_t>(i)].numel();
    }
    const Tensor& first = m.params[static_cast<size_t>(m.buckets[b].params[0])];
    m.flat.push_back(Tensor::zeros({m.buckets[b].numel}, m.buckets[b].dtype, first.device()));
  }
  for (size_t i = 0; i < n; ++i) {
    if (m.param_bucket[i] < 0) continue;
    Impl* self = impl_.get();
    m.hook_ids.push_back(
        add_grad_ready_hook(m.params[i], [self, i](const Tensor&) { self->on_ready(i); }));
  }
  m.param_ready.assign(n, 0);
  m.works.resize(m.buckets.size());
  m.timings.resize(m.buckets.size());
}

GradientReducer::~GradientReducer() {
  for (int64_t id : impl_->hook_ids) remove_grad_ready_hook(id);
  impl_->drain();
}

void GradientReducer::prepare_for_backward() {
  Impl& m = *impl_;
  if (m.no_sync) {
    m.armed = false;
    return;
  }
  m.drain();  // nothing in flight normally: finish() waited for every bucket
  m.armed = true;
  m.callback_queued = false;
  m.t0 = Clock::now();
  std::fill(m.param_ready.begin(), m.param_ready.end(), 0);
  m.bucket_pending.clear();
  for (const auto& b : m.buckets) m.bucket_pending.push_back(static_cast<int64_t>(b.params.size()));
  m.bucket_ready.assign(m.buckets.size(), 0);
  m.work_seen_done.assign(m.buckets.size(), 0);
  m.timings.assign(m.buckets.size(), Timing{});
  m.next_launch = 0;
  m.backward_seconds = 0;
}

void GradientReducer::finish() {
  impl_->finish();
}

std::vector<Tensor> GradientReducer::all_reduce_gradients(const std::vector<Tensor>& grads) {
  Impl& m = *impl_;
  DUET_CHECK(grads.size() == m.params.size(),
             "GradientReducer::all_reduce_gradients: ", grads.size(), " gradients for ",
             m.params.size(),
             " parameters (expected one per parameter, in the constructor's order)");
  bool symbolic = false, concrete = false;
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    DUET_CHECK(grads[i].shape() == m.params[i].shape(),
               "GradientReducer::all_reduce_gradients: gradient ", i, " has shape ",
               shape_str(grads[i].shape()), " but its parameter has shape ",
               shape_str(m.params[i].shape()), " (expected equal shapes)");
    (grads[i].is_symbolic() ? symbolic : concrete) = true;
  }
  DUET_CHECK(!(symbolic && concrete),
             "GradientReducer::all_reduce_gradients: some gradients "
             "are graph-mode (symbolic) tensors and some are concrete; expected one kind");
  if (symbolic) return detail::all_reduce_gradients_graph(m.buckets, m.params, grads);

  NoGradGuard no_grad;
  std::vector<Tensor> out = grads;
  std::vector<Tensor> bufs;
  std::vector<std::shared_ptr<Work>> works;
  for (size_t b = 0; b < m.buckets.size(); ++b) {
    const Tensor& first = m.params[static_cast<size_t>(m.buckets[b].params[0])];
    Tensor f = Tensor::zeros({m.buckets[b].numel}, m.buckets[b].dtype, first.device());
    int64_t off = 0;
    for (int64_t i : m.buckets[b].params) {
      const Tensor& g = grads[static_cast<size_t>(i)];
      const Tensor& p = m.params[static_cast<size_t>(i)];
      if (g.defined()) f.slice(0, off, off + p.numel()).reshape(p.shape()).copy_(g);
      off += p.numel();
    }
    if (f.device().type == DeviceType::cpu) {
      works.push_back(m.group->all_reduce(f.impl()->bytes(), f.numel(), f.dtype(), ReduceOp::avg,
                                          m.bucket_what(b)));
    } else {
      works.push_back(all_reduce_async(f, ReduceOp::avg));
    }
    bufs.push_back(f);
  }
  for (size_t b = 0; b < m.buckets.size(); ++b) {
    try {
      works[b]->wait();
    } catch (...) {
      for (size_t k = b + 1; k < works.size(); ++k) {
        try {
          works[k]->wait();
        } catch (...) {
        }
      }
      throw;
    }
    int64_t off = 0;
    for (int64_t i : m.buckets[b].params) {
      const Tensor& p = m.params[static_cast<size_t>(i)];
      out[static_cast<size_t>(i)] = bufs[b].slice(0, off, off + p.numel()).reshape(p.shape());
      off += p.numel();
    }
  }
  return out;
}

GradientReducer::NoSyncGuard::NoSyncGuard(GradientReducer& r) : r_(r), prev_(r.impl_->no_sync) {
  r_.impl_->no_sync = true;
}

GradientReducer::NoSyncGuard::~NoSyncGuard() {
  r_.impl_->no_sync = prev_;
}

const std::vector<GradientReducer::BucketInfo>& GradientReducer::buckets() const {
  return impl_->buckets;
}

const std::vector<Tensor>& GradientReducer::params() const {
  return impl_->params;
}

std::vector<GradientReducer::Timing> GradientReducer::last_timings() const {
  return impl_->timings;
}

double GradientReducer::last_backward_seconds() const {
  return impl_->backward_seconds;
}

}  // namespace duet::distributed

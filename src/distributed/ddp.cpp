// broadcast_module and DistributedDataParallel (duet/distributed/ddp.h); the gradient
// reducer is in reducer.cpp.
#include "duet/distributed/ddp.h"

#include "core/tensor_impl.h"
#include "distributed/buckets.h"
#include "distributed/process_group.h"
#include "duet/autograd.h"
#include "duet/error.h"
#include "duet/graph.h"

namespace duet::distributed {

void broadcast_module(nn::Module& module, int root, bool buffers) {
  auto& group = detail::ProcessGroup::get();
  DUET_CHECK(root >= 0 && root < group.world_size(), "broadcast_module: root ", root,
             " is not a rank (expected 0 .. ", group.world_size() - 1, ")");
  nn::StateDict tensors = module.named_parameters();
  if (buffers)
    for (auto& nt : module.named_buffers()) tensors.push_back(nt);
  std::vector<std::vector<int64_t>> entries;
  for (const auto& [name, t] : tensors) {
    DUET_CHECK(!t.is_symbolic(), "broadcast_module: '", name,
               "' is a graph-mode (symbolic) tensor; expected a concrete one");
    entries.push_back(detail::named_tensor_entry(name, t));
  }
  detail::check_same_entries(group, "broadcast_module", "parameters and buffers", entries,
                             detail::describe_named_tensor_entry);

  NoGradGuard no_grad;
  struct Pending {
    Tensor target, buf;  // buf: target itself, or a contiguous copy written back after
    std::shared_ptr<Work> work;
  };
  std::vector<Pending> pending;
  for (const auto& [name, t] : tensors) {
    if (t.numel() == 0) continue;
    Tensor target = t;
    if (t.device().type != DeviceType::cpu) {
      broadcast(target, root);  // the device engine, stream-ordered
      continue;
    }
    Tensor buf = t.is_contiguous() ? t : t.contiguous();
    auto work =
        group.broadcast(buf.impl()->bytes(), buf.numel(), buf.dtype(), root,
                        ::duet::detail::cat("broadcast_module: '", name, "' (",
                                            dtype_name(t.dtype()), " ", shape_str(t.shape()), ")"));
    pending.push_back({target, buf, work});
  }
  std::exception_ptr error;
  for (auto& p : pending) {
    try {
      p.work->wait();
    } catch (...) {
      if (!error) error = std::current_exception();
      continue;
    }
    if (!p.buf.is_same(p.target)) p.target.copy_(p.buf);
    if (p.target.impl()->storage) ++p.target.impl()->storage->version;  // written in place
  }
  if (error) std::rethrow_exception(error);
}

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                                 const DDPOptions& options)
    : Module("DistributedDataParallel") {
  DUET_CHECK(module != nullptr, "DistributedDataParallel: the module is null");
  module_ = register_module("module", std::move(module));
  broadcast_module(*module_, 0, options.broadcast_buffers);
  reducer_ = std::make_unique<GradientReducer>(module_->parameters(), options);
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  if (grad_enabled() && !is_tracing()) reducer_->prepare_for_backward();
  return (*module_)(x);
}

std::vector<Tensor> DistributedDataParallel::forward_many(const std::vector<Tensor>& inputs) {
  if (grad_enabled() && !is_tracing()) reducer_->prepare_for_backward();
  return (*module_)(inputs);
}

}  // namespace duet::distributed

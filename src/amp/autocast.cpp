// duet::autocast scopes (duet/amp.h): a thread-local dtype, saved and restored by each
// AutocastGuard, and the per-op input casts call_op applies while it is set.
//
// Gradient rules never see autocast: backward() and gradients() turn it off while they run
// (src/eager/tape.cpp, src/graph/autodiff.cpp), so backward ops run in the dtypes the forward
// chose, as in PyTorch.
#include "amp/autocast.h"

#include "duet/amp.h"
#include "duet/ops/shape.h"

namespace duet {
namespace {

thread_local std::optional<DType> t_autocast;

}  // namespace

std::optional<DType> autocast_dtype() {
  return t_autocast;
}

AutocastGuard::AutocastGuard(DType dtype, bool enabled) : previous_(t_autocast) {
  DUET_CHECK(is_low_precision(dtype), "autocast: dtype ", dtype,
             " is not a low-precision floating dtype (expected bfloat16 or float16)");
  t_autocast = enabled ? std::optional<DType>(dtype) : std::nullopt;
}

AutocastGuard::~AutocastGuard() {
  t_autocast = previous_;
}

namespace detail {

std::optional<DType> autocast_target(AutocastPolicy policy, DType t, DType lowp) {
  switch (policy) {
    case AutocastPolicy::none:
      return std::nullopt;
    case AutocastPolicy::lower:
      if ((t == DType::float32 || is_low_precision(t)) && t != lowp) return lowp;
      return std::nullopt;
    case AutocastPolicy::float32:
      if (is_low_precision(t)) return DType::float32;
      return std::nullopt;
  }
  return std::nullopt;
}

void autocast_inputs(const OpDef& op, std::vector<Tensor>& inputs) {
  if (op.autocast == AutocastPolicy::none || !t_autocast) return;
  const DType lowp = *t_autocast;
  for (Tensor& t : inputs) {
    if (!t.defined()) continue;  // call_op's own check names it
    if (auto to = autocast_target(op.autocast, t.dtype(), lowp)) t = cast(t, *to);
  }
}

}  // namespace detail
}  // namespace duet

#include "ops/promotion.h"

#include "duet/ops/shape.h"

namespace duet::detail {

void promote_inputs(const OpDef& op, std::vector<Tensor>& inputs) {
  // The operands that combine: both inputs of a binary op, where(cond, a, b)'s a and b, every
  // input of concat (torch.cat promotes too). Not the fused ops (add_relu): a graph pass makes
  // them from ops whose operands were promoted already, and they take one dtype.
  size_t first = 0;
  if (op.has(OpTrait::binary) && !op.has(OpTrait::fused) && inputs.size() == 2) {
    first = 0;
  } else if (op.is(OpId::where) && inputs.size() == 3) {
    first = 1;
  } else if (!op.is(OpId::concat) || inputs.size() < 2) {
    return;
  }
  bool mixed = false;
  DType to = DType::bool_;
  for (size_t i = first; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) return;  // call_op reports it
    const DType t = inputs[i].dtype();
    mixed = mixed || (i > first && t != inputs[first].dtype());
    to = i == first ? t : promote_types(to, t);
  }
  if (!mixed) return;
  for (size_t i = first; i < inputs.size(); ++i)
    if (inputs[i].dtype() != to) inputs[i] = cast(inputs[i], to);
}

}  // namespace duet::detail

// Temporary default: graph mode needs each optimizer to implement apply_gradients.
#include "duet/optim/optimizer.h"

namespace duet::optim {

void Optimizer::apply_gradients(const std::vector<Tensor>& grads) {
  throw Error(detail::cat(name_, ": apply_gradients is not implemented for this optimizer"));
}

}  // namespace duet::optim

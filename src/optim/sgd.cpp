// SGD: the momentum buffer is created on a parameter's first update (as PyTorch).
#include "duet/optim/sgd.h"

#include "duet/autograd.h"
#include "duet/optim/updates.h"

namespace duet::optim {

SGD::SGD(std::vector<Tensor> params, double lr, double momentum_, double dampening_,
         double weight_decay_, bool nesterov_)
    : Optimizer(std::move(params), lr, "SGD"),
      momentum(momentum_),
      dampening(dampening_),
      weight_decay(weight_decay_),
      nesterov(nesterov_) {
  DUET_CHECK(momentum >= 0.0, "SGD: momentum = ", momentum, " (expected >= 0)");
  DUET_CHECK(weight_decay >= 0.0, "SGD: weight_decay = ", weight_decay, " (expected >= 0)");
  DUET_CHECK(!nesterov || (momentum > 0.0 && dampening == 0.0),
             "SGD: nesterov momentum requires momentum > 0 and dampening = 0 (got momentum = ",
             momentum, ", dampening = ", dampening, ")");
}

void SGD::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    ParamState& st = state_[i];
    Tensor buf;
    bool first = false;
    if (momentum != 0.0) {
      buf = st.get("momentum_buffer");
      if (!buf.defined()) {
        buf = Tensor::zeros(p.shape(), p.dtype(), p.device());
        st.set("momentum_buffer", buf);
        first = true;
      }
    }
    sgd_step_(p, g, buf,
              {.lr = lr_, .momentum = momentum, .dampening = dampening,
               .weight_decay = weight_decay, .nesterov = nesterov, .first_step = first});
    st.step++;
  }
}

}  // namespace duet::optim

// torchvision's weight initialisation loops for the model zoo.
#include "models/init_util.h"

#include <cmath>

#include "duet/nn.h"

namespace duet::models::detail {

void init_weights(nn::Module& root, LinearInit linear, Generator& gen) {
  namespace init = nn::init;
  for (auto& [name, m] : root.named_modules()) {
    if (auto* conv = dynamic_cast<nn::Conv2d*>(m)) {
      // kaiming_normal_(mode="fan_out"), relu or the default leaky_relu(0): both gain sqrt(2).
      init::kaiming_normal_(conv->weight, 0.0, init::FanMode::fan_out, init::Nonlinearity::relu,
                            gen);
      if (conv->bias.defined()) init::zeros_(conv->bias);
    } else if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
      if (bn->weight.defined()) init::ones_(bn->weight);
      if (bn->bias.defined()) init::zeros_(bn->bias);
    } else if (auto* fc = dynamic_cast<nn::Linear*>(m)) {
      if (linear == LinearInit::pytorch_default) continue;
      if (linear == LinearInit::normal_0_01) {
        init::normal_(fc->weight, 0.0, 0.01, gen);
      } else {
        const double range = 1.0 / std::sqrt(static_cast<double>(fc->out_features));
        init::uniform_(fc->weight, -range, range, gen);
      }
      if (fc->bias.defined()) init::zeros_(fc->bias);
    }
  }
}

}  // namespace duet::models::detail

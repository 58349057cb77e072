// Conv2d.
#include "duet/nn/conv.h"

#include <cmath>

#include "duet/nn/init.h"
#include "nn/repr_util.h"

namespace duet::nn {

Conv2d::Conv2d(int64_t in, int64_t out, Int2 kernel, const Conv2dOptions& opt, bool with_bias,
               Generator& gen)
    : Module("Conv2d"), in_channels(in), out_channels(out), kernel_size(kernel), options(opt) {
  DUET_CHECK(in > 0 && out > 0, "Conv2d: in_channels = ", in, ", out_channels = ", out,
             " (expected both > 0)");
  DUET_CHECK(kernel[0] > 0 && kernel[1] > 0, "Conv2d: kernel_size = ", kernel,
             " (expected positive sizes)");
  DUET_CHECK(opt.stride[0] > 0 && opt.stride[1] > 0, "Conv2d: stride = ", opt.stride,
             " (expected >= 1 on both axes)");
  DUET_CHECK(opt.dilation[0] > 0 && opt.dilation[1] > 0, "Conv2d: dilation = ", opt.dilation,
             " (expected >= 1 on both axes)");
  DUET_CHECK(opt.padding[0] >= 0 && opt.padding[1] >= 0, "Conv2d: padding = ", opt.padding,
             " (expected >= 0 on both axes)");
  DUET_CHECK(opt.groups > 0 && in % opt.groups == 0 && out % opt.groups == 0,
             "Conv2d: groups = ", opt.groups, " must divide in_channels = ", in,
             " and out_channels = ", out);
  weight =
      register_parameter("weight", Tensor::empty({out, in / opt.groups, kernel[0], kernel[1]}));
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::fan_in,
                         init::Nonlinearity::leaky_relu, gen);
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty({out}));
    const double fan_in = static_cast<double>(init::fan_in_and_fan_out(weight).first);
    const double bound = 1.0 / std::sqrt(fan_in);
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias, options);
}

std::string Conv2d::extra_repr() const {
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + detail::pair_str(kernel_size) +
                  ", stride=" + detail::pair_str(options.stride);
  if (options.padding != std::array<int64_t, 2>{0, 0})
    s += ", padding=" + detail::pair_str(options.padding);
  if (options.dilation != std::array<int64_t, 2>{1, 1})
    s += ", dilation=" + detail::pair_str(options.dilation);
  if (options.groups != 1) s += ", groups=" + std::to_string(options.groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

}  // namespace duet::nn

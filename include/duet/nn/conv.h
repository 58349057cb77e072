// 2-D convolution layer (NCHW), PyTorch's nn.Conv2d.
//
//   duet::nn::Conv2d conv(3, 64, 7, {.stride = 2, .padding = 3}, /*bias=*/false);
//   auto y = conv(x);                            // x: (N, 3, H, W) -> (N, 64, H/2, W/2)
//   duet::nn::Conv2d dw(32, 32, {3, 3}, {.padding = 1, .groups = 32});  // depthwise
//   auto c = duet::nn::make<duet::nn::Conv2d>(1, 16, 3, {.padding = 1});  // shared_ptr
//
// One value means both axes (kernel 3 is (3, 3), {.padding = 1} is (1, 1)); {a, b} is
// (height, width). A stride or dilation below 1, a negative padding, or groups that do not
// divide both channel counts is a duet::Error at construction.
#pragma once

#include <array>

#include "duet/nn/module.h"
#include "duet/ops/conv.h"
#include "duet/random.h"

namespace duet::nn {

using duet::Conv2dOptions;  // nn::Conv2dOptions{.padding = 1} reads as in the layer's docs

class Conv2d : public Module {
 public:
  // weight ~ kaiming_uniform_(a = sqrt(5)); bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
  // fan_in = in_channels / groups * kh * kw.
  using Options = Conv2dOptions;
  Conv2d(int64_t in_channels, int64_t out_channels, Int2 kernel_size,
         const Conv2dOptions& options = {}, bool bias = true, Generator& gen = default_generator());

  Tensor forward(const Tensor& x) override;  // x: (N, C, H, W) -> (N, O, OH, OW)
  std::string extra_repr() const override;

  Tensor weight;  // (out, in / groups, kh, kw)
  Tensor bias;    // (out), undefined without bias
  int64_t in_channels, out_channels;
  Int2 kernel_size;
  Conv2dOptions options;
};

}  // namespace duet::nn

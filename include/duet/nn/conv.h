// 2-D convolution layer (NCHW), PyTorch's nn.Conv2d.
//
//   duet::nn::Conv2d conv(3, 64, 7, {.stride = {2, 2}, .padding = {3, 3}}, /*bias=*/false);
//   auto y = conv(x);                            // x: (N, 3, H, W) -> (N, 64, H/2, W/2)
//   duet::nn::Conv2d dw(32, 32, {3, 3}, {.padding = {1, 1}, .groups = 32});  // depthwise
#pragma once

#include <array>

#include "duet/nn/module.h"
#include "duet/ops/conv.h"
#include "duet/random.h"

namespace duet::nn {

class Conv2d : public Module {
 public:
  // weight ~ kaiming_uniform_(a = sqrt(5)); bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
  // fan_in = in_channels / groups * kh * kw.
  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_size,
         const Conv2dOptions& options = {}, bool bias = true, Generator& gen = default_generator());
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
         const Conv2dOptions& options = {}, bool bias = true, Generator& gen = default_generator())
      : Conv2d(in_channels, out_channels, {kernel_size, kernel_size}, options, bias, gen) {}

  Tensor forward(const Tensor& x) override;  // x: (N, C, H, W) -> (N, O, OH, OW)
  std::string extra_repr() const override;

  Tensor weight;  // (out, in / groups, kh, kw)
  Tensor bias;    // (out), undefined without bias
  int64_t in_channels, out_channels;
  std::array<int64_t, 2> kernel_size;
  Conv2dOptions options;
};

}  // namespace duet::nn

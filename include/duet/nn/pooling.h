// Pooling modules over (N, C, H, W) inputs.
//
//   duet::nn::MaxPool2d pool(2);                               // kernel 2, stride 2
//   duet::nn::MaxPool2d stem({.kernel = 3, .stride = 2, .padding = 1});  // (3, 3), ...
//
// A kernel below 1, a negative stride (0: the kernel), a negative padding or a dilation
// below 1 is a duet::Error at construction.
//   duet::nn::AdaptiveAvgPool2d gap(1);                        // (N, C, 1, 1)
#pragma once

#include <array>

#include "duet/nn/module.h"
#include "duet/ops/pool.h"

namespace duet::nn {

using duet::Pool2dOptions;

class MaxPool2d : public Module {
 public:
  using Options = Pool2dOptions;
  explicit MaxPool2d(const Pool2dOptions& options);
  // stride 0: same as kernel.
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Pool2dOptions options;
};

class AvgPool2d : public Module {
 public:
  using Options = Pool2dOptions;
  explicit AvgPool2d(const Pool2dOptions& options);
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Pool2dOptions options;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(std::array<int64_t, 2> output_size);
  explicit AdaptiveAvgPool2d(int64_t output_size)
      : AdaptiveAvgPool2d(std::array<int64_t, 2>{output_size, output_size}) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  std::array<int64_t, 2> output_size;
};

}  // namespace duet::nn

// Transforms: functions of one example's input and a random generator, as torchvision's.
//
//   using namespace duet::data;
//   Transform augment = Compose({RandomCrop(28, /*padding=*/4), RandomHorizontalFlip(0.5),
//                                Normalize({0.2860}, {0.3530})});
//   DataLoader loader(train, {.batch_size = 128, .transform = augment});
//
//   // Your own: any callable taking (const Tensor& x, Generator& gen).
//   Transform noise = [](const duet::Tensor& x, duet::Generator& gen) {
//     return duet::add(x, duet::Tensor::randn(x.shape(), gen));
//   };
//
// x is one sample: (C, H, W) or (H, W) (any leading axes are channels); a transform returns
// a new tensor and leaves x alone. DataLoader calls a transform with a Generator seeded from
// (loader seed, epoch, sample index) only, so the augmented batches do not depend on the
// worker count or on timing, and a resumed run sees the same ones.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "duet/random.h"
#include "duet/tensor.h"

namespace duet::data {

using Transform = std::function<Tensor(const Tensor& x, Generator& gen)>;

// Pads H and W by `padding` zeros on each side, then cuts a (height, width) window at a
// uniformly drawn top (gen.below(H + 2p - height + 1)) and then left offset; torchvision's
// RandomCrop(size, padding) with fill 0. Any dtype.
class RandomCrop {
 public:
  explicit RandomCrop(int64_t size, int64_t padding = 0) : RandomCrop(size, size, padding) {}
  RandomCrop(int64_t height, int64_t width, int64_t padding);
  Tensor operator()(const Tensor& x, Generator& gen) const;
  // The window at (top, left) of the padded image, no randomness (what operator() draws).
  Tensor crop(const Tensor& x, int64_t top, int64_t left) const;
  int64_t height, width, padding;
};

// Reverses the last axis with probability p (one gen.uniform() < p per call).
class RandomHorizontalFlip {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor operator()(const Tensor& x, Generator& gen) const;
  double p;
};

// (x - mean[c]) / std[c] per channel c (axis -3; a rank-2 x is one channel), computed in x's
// floating dtype as torchvision does. One mean/std applies to every channel.
class Normalize {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  Tensor operator()(const Tensor& x, Generator& gen) const;
  std::vector<double> mean, std;
};

// Applies each transform in order, all with the same generator.
class Compose {
 public:
  explicit Compose(std::vector<Transform> transforms) : transforms(std::move(transforms)) {}
  Tensor operator()(const Tensor& x, Generator& gen) const;
  std::vector<Transform> transforms;
};

}  // namespace duet::data

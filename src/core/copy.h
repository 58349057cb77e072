// Strided copy with dtype conversion: the one loop behind contiguous(), copy_() and casts.
#pragma once

#include "duet/tensor.h"

namespace duet::detail {

// dst[i] = convert(src[i]) for every index of dst.shape(); src must have dst's shape but may
// have any strides (0 for broadcast dimensions); dst must not overlap itself. No autograd.
void strided_copy(const Tensor& src, const Tensor& dst);
// A fresh contiguous copy of t (same dtype), no autograd.
Tensor contiguous_copy(const Tensor& t);

}  // namespace duet::detail

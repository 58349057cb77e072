// Matrix products.
//
//   auto c = duet::matmul(a, b);         // a: (B, M, K), b: (K, N) -> c: (B, M, N)
//   auto y = duet::linear(x, w, bias);   // x: (N, in), w: (out, in), bias: (out) -> (N, out)
#pragma once

#include "duet/tensor.h"

namespace duet {

// numpy matmul semantics for rank >= 2 (batch dimensions broadcast); rank-1 operands are
// promoted to matrices and the added dimension removed afterwards.
Tensor matmul(const Tensor& a, const Tensor& b,
              std::source_location loc = std::source_location::current());
// x @ w^T + bias; bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              std::source_location loc = std::source_location::current());

}  // namespace duet

// Helpers shared by the tensor-op converters (import_math_ops.cpp, import_shape_ops.cpp,
// import_reduce_ops.cpp): axis normalization, host int64 tensors, and gathering along an axis
// with indices known at import time (on the host for a constant tensor, as slices + concat
// for a computed one).
//
//   int64_t axis = norm_axis(n, n.attr_int("axis", 0), x.dim(), "axis");   // -1 -> rank - 1
//   Tensor s = int64_tensor({2, 3});                                       // (2,) int64
//   Tensor g = take(n, x, 0, {2, 0, -1}, n.is_constant(0));               // rows 2, 0, last
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "onnx/import_ops.h"

namespace duet::onnx::detail {

// The families joined by tensor_operators() (import_tensor_ops.cpp).
std::span<const OperatorDef> math_operators();
std::span<const OperatorDef> shape_operators();
std::span<const OperatorDef> reduce_operators();
std::span<const OperatorDef> index_operators();   // import_index_ops.cpp
std::span<const OperatorDef> resize_operators();  // import_resize_ops.cpp

// `axis` in [-rank, rank) -> [0, rank), or n.fail naming `what`.
int64_t norm_axis(const NodeContext& n, int64_t axis, int64_t rank, const char* what);
// Every axis normalized; a repeated axis fails.
std::vector<int64_t> norm_axes(const NodeContext& n, const std::vector<int64_t>& axes, int64_t rank,
                               const char* what);
// A 1-D int64 tensor holding `v` (shape (v.size(),)), or a 0-d one when `scalar`.
Tensor int64_tensor(const std::vector<int64_t>& v, bool scalar = false);
// The zero of x's dtype as a 0-d tensor (for int64 compositions: -x = 0 - x).
Tensor zero_like_scalar(const Tensor& x);
// Elements idx (each in [0, size(axis)), already normalized) of x along `axis`: shape
// x.shape[:axis] + (idx.size(),) + x.shape[axis+1:]. On the host when `host` (x concrete),
// else as runs of consecutive indices sliced and concatenated (more than kMaxTakePieces runs:
// a one-hot matmul for floating x, an error otherwise).
inline constexpr size_t kMaxTakePieces = 256;
Tensor take(const NodeContext& n, const Tensor& x, int64_t axis, const std::vector<int64_t>& idx,
            bool host);
// Gather along `axis` with indices computed at run time (import_index_ops.cpp): a one-hot
// matmul, float data only.
Tensor gather_computed(const NodeContext& n, const Tensor& x, int64_t axis, const Tensor& indices);
// The most dimensions a shape read from the file may have (TensorLimits::max_dims).
inline constexpr size_t kMaxRank = 64;
void check_rank(const NodeContext& n, size_t rank, const char* what);
// The largest tensor a converter creates on the host from file values (ConstantOfShape,
// Range, Tile's output count ...): the same bound as an initializer's (TensorLimits).
inline constexpr int64_t kMaxHostBytes = int64_t{1} << 32;
// numel(shape) * itemsize, or n.fail when a dimension is negative, it overflows, or it exceeds
// kMaxHostBytes.
int64_t checked_host_bytes(const NodeContext& n, const Shape& shape, DType dtype, const char* what);

}  // namespace duet::onnx::detail

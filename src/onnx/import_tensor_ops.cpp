// ONNX operators of tensor math and shapes (elementwise math with broadcasting, Reshape,
// Transpose, Concat, Shape, Gather, Slice, reductions, Constant, ...) mapped onto duet's ops
// (src/onnx/import_ops.h). The converters live in import_math_ops.cpp, import_shape_ops.cpp,
// import_reduce_ops.cpp, import_index_ops.cpp and import_resize_ops.cpp; this file joins their
// tables and holds the shared helpers (import_tensor_util.h).
#include <algorithm>
#include <cstring>
#include <string>

#include "duet/ops.h"
#include "onnx/import_tensor_util.h"

namespace duet::onnx::detail {

std::span<const OperatorDef> tensor_operators() {
  static const std::vector<OperatorDef> table = [] {
    std::vector<OperatorDef> all;
    for (auto family : {math_operators(), shape_operators(), reduce_operators(), index_operators(),
                        resize_operators()}) {
      all.insert(all.end(), family.begin(), family.end());
    }
    return all;
  }();
  return table;
}

int64_t norm_axis(const NodeContext& n, int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank) {
    n.fail(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
           std::to_string(rank) + " (expected -" + std::to_string(rank) + " ... " +
           std::to_string(rank - 1) + ")");
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> norm_axes(const NodeContext& n, const std::vector<int64_t>& axes, int64_t rank,
                               const char* what) {
  std::vector<int64_t> out;
  out.reserve(axes.size());
  for (int64_t a : axes) {
    const int64_t v = norm_axis(n, a, rank, what);
    if (std::find(out.begin(), out.end(), v) != out.end()) {
      n.fail(std::string(what) + " repeats axis " + std::to_string(v));
    }
    out.push_back(v);
  }
  return out;
}

Tensor int64_tensor(const std::vector<int64_t>& v, bool scalar) {
  if (scalar) return Tensor::from_vector(v, Shape{}, int64);
  return Tensor::from_vector(v, Shape{static_cast<int64_t>(v.size())}, int64);
}

Tensor zero_like_scalar(const Tensor& x) {
  return Tensor::zeros({}, x.dtype(), x.device());
}

void check_rank(const NodeContext& n, size_t rank, const char* what) {
  if (rank > kMaxRank) {
    n.fail(std::string(what) + " has " + std::to_string(rank) + " dimensions (at most " +
           std::to_string(kMaxRank) + ")");
  }
}

int64_t checked_host_bytes(const NodeContext& n, const Shape& shape, DType dtype,
                           const char* what) {
  for (int64_t d : shape) {
    if (d < 0) n.fail(std::string(what) + ": shape " + shape_str(shape) + " has a negative dim");
  }
  int64_t bytes = 0;
  try {
    bytes = checked_nbytes(shape, dtype_size(dtype), what);
  } catch (const Error& e) {
    n.fail(e.what());
  }
  if (bytes > kMaxHostBytes) {
    n.fail(std::string(what) + ": shape " + shape_str(shape) + " would take " +
           std::to_string(bytes) + " bytes (limit " + std::to_string(kMaxHostBytes) + ")");
  }
  return bytes;
}

namespace {

// Host gather: x contiguous (outer, size, inner) -> (outer, idx.size(), inner).
Tensor take_host(const NodeContext& n, const Tensor& x, int64_t axis,
                 const std::vector<int64_t>& idx) {
  Shape out_shape = x.shape();
  out_shape[static_cast<size_t>(axis)] = static_cast<int64_t>(idx.size());
  checked_host_bytes(n, out_shape, x.dtype(), "gather");
  const Tensor src = x.contiguous();
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.size(d);
  for (int64_t d = axis + 1; d < x.dim(); ++d) inner *= x.size(d);
  const int64_t size = x.size(axis), k = static_cast<int64_t>(idx.size());
  const size_t row = static_cast<size_t>(inner) * dtype_size(x.dtype());
  if (row == 0 || outer == 0 || k == 0) return out;
  const char* s = static_cast<const char*>(src.data_ptr());
  char* d = static_cast<char*>(out.data_ptr());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < k; ++j) {
      std::memcpy(d + static_cast<size_t>(o * k + j) * row,
                  s + static_cast<size_t>(o * size + idx[static_cast<size_t>(j)]) * row, row);
    }
  }
  return out;
}

}  // namespace

Tensor take(const NodeContext& n, const Tensor& x, int64_t axis, const std::vector<int64_t>& idx,
            bool host) {
  if (host && !x.is_symbolic()) return take_host(n, x, axis, idx);
  // Runs of consecutive indices (step +1), each one slice.
  std::vector<Tensor> pieces;
  size_t i = 0;
  while (i < idx.size()) {
    size_t j = i + 1;
    while (j < idx.size() && idx[j] == idx[j - 1] + 1) ++j;
    if (pieces.size() == kMaxTakePieces && is_floating(x.dtype())) {
      return gather_computed(n, x, axis, int64_tensor(idx));  // one matmul instead
    }
    if (pieces.size() == kMaxTakePieces) {
      n.fail("gathering " + std::to_string(idx.size()) +
             " indices from a computed int64 or bool tensor needs more than " +
             std::to_string(kMaxTakePieces) + " slices: not supported");
    }
    pieces.push_back(slice(x, axis, idx[i], idx[j - 1] + 1));
    i = j;
  }
  if (pieces.empty()) return slice(x, axis, 0, 0);
  if (pieces.size() == 1) return pieces[0];
  return concat(pieces, axis);
}

}  // namespace duet::onnx::detail

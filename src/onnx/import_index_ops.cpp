// ONNX operators built from index masks and layout changes (src/onnx/import_ops.h):
// DepthToSpace / SpaceToDepth (reshape + permute + reshape), Trilu, EyeLike, OneHot (masks
// compared against an index grid), CumSum (a product with a triangular matrix). Masks and
// matrices depend only on static shapes and constant inputs, so they are made on the host.
#include <string>

#include "duet/ops.h"
#include "graph/ir.h"
#include "onnx/import_tensor_util.h"

namespace duet::onnx::detail {
namespace {

int64_t positive_attr(const NodeContext& n, const char* name) {
  if (!n.has_attr(name)) n.fail(std::string("attribute '") + name + "' is missing");
  const int64_t v = n.attr_int(name, 0);
  if (v <= 0 || v > (int64_t{1} << 20)) {
    n.fail(std::string("attribute '") + name + "' is " + std::to_string(v) +
           " (expected 1 ... 2^20)");
  }
  return v;
}

void expect_rank4(const NodeContext& n, const Tensor& x) {
  if (x.dim() != 4) n.fail("input has shape " + shape_str(x.shape()) + " (expected (N, C, H, W))");
}

// (N, C, H, W) -> (N, C / b^2, H b, W b)
std::vector<Tensor> convert_depth_to_space(NodeContext& n) {
  n.expect_attrs({"blocksize", "mode"});
  const Tensor& x = n.input(0);
  expect_rank4(n, x);
  const int64_t b = positive_attr(n, "blocksize");
  const std::string mode = n.attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") n.fail("mode '" + mode + "' (expected DCR or CRD)");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t bb = b * b;
  if (C % bb != 0) {
    n.fail("channels " + std::to_string(C) + " are not a multiple of blocksize^2 " +
           std::to_string(bb));
  }
  const int64_t c = C / bb;
  const Shape out{N, c, checked_mul(H, b, "DepthToSpace"), checked_mul(W, b, "DepthToSpace")};
  if (mode == "DCR") {
    return {reshape(permute(reshape(x, {N, b, b, c, H, W}), {0, 3, 4, 1, 5, 2}), out)};
  }
  return {reshape(permute(reshape(x, {N, c, b, b, H, W}), {0, 1, 4, 2, 5, 3}), out)};
}

// (N, C, H, W) -> (N, C b^2, H / b, W / b)
std::vector<Tensor> convert_space_to_depth(NodeContext& n) {
  n.expect_attrs({"blocksize"});
  const Tensor& x = n.input(0);
  expect_rank4(n, x);
  const int64_t b = positive_attr(n, "blocksize");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  if (H % b != 0 || W % b != 0) {
    n.fail("spatial size (" + std::to_string(H) + ", " + std::to_string(W) +
           ") is not a multiple of blocksize " + std::to_string(b));
  }
  const Tensor t = permute(reshape(x, {N, C, H / b, b, W / b, b}), {0, 3, 5, 1, 2, 4});
  return {reshape(t, {N, checked_mul(C, b * b, "SpaceToDepth"), H / b, W / b})};
}

// A bool (rows, cols) mask: keep(i, j).
template <class F>
Tensor host_mask(const NodeContext& n, int64_t rows, int64_t cols, F keep) {
  checked_host_bytes(n, {rows, cols}, bool_, n.node().op_type().c_str());
  Tensor m = Tensor::zeros({rows, cols}, bool_);
  bool* p = m.data<bool>();
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) p[i * cols + j] = keep(i, j);
  }
  return m;
}

int64_t constant_scalar(const NodeContext& n, size_t i, const char* what) {
  if (!n.is_constant(i))
    n.fail(std::string(what) + " (input " + std::to_string(i) +
           ") is computed at run time: not supported");
  const std::vector<int64_t> v = n.constant_ints(i);
  if (v.size() != 1)
    n.fail(std::string(what) + " has " + std::to_string(v.size()) + " values (expected 1)");
  return v[0];
}

std::vector<Tensor> convert_trilu(NodeContext& n) {
  n.expect_attrs({"upper"});
  const Tensor& x = n.input(0);
  if (x.dim() < 2) n.fail("input has shape " + shape_str(x.shape()) + " (expected rank >= 2)");
  const bool upper = n.attr_int("upper", 1) != 0;
  const int64_t k = n.has_input(1) ? constant_scalar(n, 1, "k") : 0;
  const int64_t rows = x.size(-2), cols = x.size(-1);
  // j - i compared with k without overflow: |j - i| < 2^63, k clamped to the matrix.
  const int64_t kk = std::max(std::min(k, cols), -rows);
  const Tensor mask = host_mask(
      n, rows, cols, [&](int64_t i, int64_t j) { return upper ? j - i >= kk : j - i <= kk; });
  return {where(mask, x, Tensor::zeros({}, x.dtype()))};
}

std::vector<Tensor> convert_eye_like(NodeContext& n) {
  n.expect_attrs({"dtype", "k"});
  const Tensor& x = n.input(0);
  if (x.dim() != 2) n.fail("input has shape " + shape_str(x.shape()) + " (expected 2-D)");
  DType t = x.dtype();
  if (n.has_attr("dtype")) {
    const int64_t d = n.attr_int("dtype", 0);
    try {
      t = dtype_from_onnx(static_cast<int32_t>(d), "dtype");
    } catch (const Error&) {
      n.fail("dtype " + std::to_string(d) +
             " is not supported (supported: FLOAT, DOUBLE, INT64, "
             "INT32 (as int64), BOOL)");
    }
  }
  const int64_t k = n.attr_int("k", 0);
  const int64_t kk = std::max(std::min(k, x.size(1)), -x.size(0));
  const Tensor mask =
      host_mask(n, x.size(0), x.size(1), [&](int64_t i, int64_t j) { return j - i == kk; });
  n.set_outputs_constant();
  duet::detail::PauseRecording pause;  // a constant, made on the host while a graph records
  return {cast(mask, t)};
}

std::vector<Tensor> convert_one_hot(NodeContext& n) {
  n.expect_attrs({"axis"});
  const Tensor& indices = n.input(0);
  const int64_t depth = constant_scalar(n, 1, "depth");
  if (depth <= 0) n.fail("depth is " + std::to_string(depth) + " (expected > 0)");
  if (!n.is_constant(2)) n.fail("values (input 2) is computed at run time: not supported");
  const Tensor& values = n.input(2);
  if (values.numel() != 2) {
    n.fail("values has shape " + shape_str(values.shape()) + " (expected 2 elements: off, on)");
  }
  const int64_t r = indices.dim() + 1;
  const int64_t axis = norm_axis(n, n.attr_int("axis", -1), r, "axis");
  Shape out = indices.shape();
  out.insert(out.begin() + axis, depth);
  checked_host_bytes(n, out, values.dtype(), "OneHot");
  Tensor idx = indices.dtype() == int64 ? indices : cast(indices, int64);
  const Tensor d = Tensor::full({}, static_cast<double>(depth), int64);
  idx = where(lt(idx, Tensor::zeros({}, int64)), add(idx, d), idx);  // negative: from the end
  idx = unsqueeze(idx, axis);
  Shape grid_shape(static_cast<size_t>(r), 1);
  grid_shape[static_cast<size_t>(axis)] = depth;
  Tensor grid, off, on;
  {
    duet::detail::PauseRecording pause;  // constants, made on the host
    grid = reshape(Tensor::arange(depth, int64), grid_shape).contiguous();
    const Tensor flat = reshape(values, {2});
    off = reshape(slice(flat, 0, 0, 1), {}).contiguous();
    on = reshape(slice(flat, 0, 1, 2), {}).contiguous();
  }
  return {where(eq(idx, grid), on, off)};
}

// y = x @ T along the axis (moved last), T (L, L) triangular: T[i][j] = 1 when x_i adds to y_j.
std::vector<Tensor> convert_cum_sum(NodeContext& n) {
  n.expect_attrs({"exclusive", "reverse"});
  const Tensor& x = n.input(0);
  if (x.dim() == 0) n.fail("input is 0-d");
  if (!is_floating(x.dtype()) && x.dtype() != int64) {
    n.fail(std::string("element type ") + dtype_name(x.dtype()) + " is not supported");
  }
  const int64_t axis = norm_axis(n, constant_scalar(n, 1, "axis"), x.dim(), "axis");
  const bool exclusive = n.attr_int("exclusive", 0) != 0, reverse = n.attr_int("reverse", 0) != 0;
  const int64_t L = x.size(axis);
  const DType work = x.dtype() == int64 ? float64 : x.dtype();
  checked_host_bytes(n, {L, L}, work, "CumSum");
  const Tensor mask = host_mask(n, L, L, [&](int64_t i, int64_t j) {
    if (reverse) return exclusive ? i > j : i >= j;
    return exclusive ? i < j : i <= j;
  });
  Tensor tri;
  {
    duet::detail::PauseRecording pause;  // a constant, made on the host
    tri = cast(mask, work);
  }
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d != axis) perm.push_back(d);
  }
  perm.push_back(axis);
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    inverse[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  const bool last = axis == x.dim() - 1;
  Tensor t = x.dtype() == work ? x : cast(x, work);
  if (!last) t = permute(t, perm);
  Tensor y = matmul(t, tri);
  if (!last) y = permute(y, inverse);
  return {x.dtype() == work ? y : cast(y, x.dtype())};
}

}  // namespace

// Gather with indices computed at run time: one_hot(indices, size) (K, size) @ x moved to
// (size, rest). Each output is one element times 1 plus zeros (exact, unless x holds an inf or
// NaN in the same column, which 0 * inf turns into NaN; and rounded to TF32 on CUDA when TF32
// is allowed). An out-of-range index gives zeros (ONNX leaves it undefined).
Tensor gather_computed(const NodeContext& n, const Tensor& x, int64_t axis, const Tensor& indices) {
  if (!is_floating(x.dtype())) {
    n.fail(std::string("indices computed at run time are supported for float data only (data is ") +
           dtype_name(x.dtype()) + "): not supported");
  }
  if (indices.dtype() != int64) {
    n.fail(std::string("indices of element type ") + dtype_name(indices.dtype()) +
           " (expected int64 or int32)");
  }
  const int64_t size = x.size(axis);
  const int64_t k = indices.numel();
  checked_host_bytes(n, {k, size}, x.dtype(), "Gather (one-hot indices)");
  Tensor grid, size_scalar;
  {
    duet::detail::PauseRecording pause;  // constants, made on the host
    grid = Tensor::arange(size, int64);
    size_scalar = Tensor::full({}, static_cast<double>(size), int64);
  }
  Tensor idx = reshape(indices, {k, 1});
  idx = where(lt(idx, Tensor::zeros({}, int64)), add(idx, size_scalar), idx);
  const Tensor one_hot = cast(eq(idx, grid), x.dtype());  // (K, size)
  // x -> (size, pre..., post...) -> (size, R)
  std::vector<int64_t> perm{axis};
  Shape rest;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == axis) continue;
    perm.push_back(d);
    rest.push_back(x.size(d));
  }
  const Tensor moved = axis == 0 ? x : permute(x, perm);
  const int64_t r = numel(rest);
  Tensor y = matmul(one_hot, reshape(moved, {size, r}));  // (K, R)
  // (idx..., pre..., post...) -> (pre..., idx..., post...)
  Shape split = indices.shape();
  split.insert(split.end(), rest.begin(), rest.end());
  y = reshape(y, split);
  if (axis == 0 || indices.dim() == 0) return y;
  const int64_t q = indices.dim();
  std::vector<int64_t> order;
  for (int64_t d = 0; d < axis; ++d) order.push_back(q + d);
  for (int64_t d = 0; d < q; ++d) order.push_back(d);
  for (int64_t d = q + axis; d < static_cast<int64_t>(split.size()); ++d) order.push_back(d);
  return permute(y, order);
}

namespace {

// out[i][j][k] = x[idx[i][j][k]][j][k] (axis 0): a one-hot mask of the indices along a new last
// axis selects with `where` (exact, any dtype) and a sum over that axis keeps the selected
// element. Memory: numel(indices) * size(axis).
std::vector<Tensor> convert_gather_elements(NodeContext& n) {
  n.expect_attrs({"axis"});
  const Tensor& x = n.input(0);
  const Tensor& indices = n.input(1);
  if (x.dim() == 0) n.fail("cannot gather from a 0-d tensor");
  if (indices.dim() != x.dim()) {
    n.fail("indices have shape " + shape_str(indices.shape()) + ", data " + shape_str(x.shape()) +
           " (expected the same rank)");
  }
  if (indices.dtype() != int64) {
    n.fail(std::string("indices of element type ") + dtype_name(indices.dtype()) +
           " (expected int64 or int32)");
  }
  if (x.dtype() == bool_) n.fail("bool data is not supported");
  const int64_t axis = norm_axis(n, n.attr_int("axis", 0), x.dim(), "axis");
  const int64_t size = x.size(axis);
  Shape mask_shape = indices.shape();
  mask_shape.push_back(size);
  checked_host_bytes(n, mask_shape, x.dtype(), "GatherElements");
  // x cut to the indices' extent on every other axis, its gather axis moved last, a size-1
  // axis left in its place: broadcasts against indices.shape + (size,).
  Tensor xs = x;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == axis || indices.size(d) == x.size(d)) continue;
    if (indices.size(d) > x.size(d)) {
      n.fail("indices have shape " + shape_str(indices.shape()) + ", larger than the data " +
             shape_str(x.shape()) + " on axis " + std::to_string(d));
    }
    xs = slice(xs, d, 0, indices.size(d));
  }
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d != axis) perm.push_back(d);
  }
  perm.push_back(axis);
  xs = unsqueeze(axis == x.dim() - 1 ? xs : permute(xs, perm), axis);
  Tensor grid, size_scalar;
  {
    duet::detail::PauseRecording pause;  // constants, made on the host
    grid = Tensor::arange(size, int64);
    size_scalar = Tensor::full({}, static_cast<double>(size), int64);
  }
  const Tensor idx =
      where(lt(indices, Tensor::zeros({}, int64)), add(indices, size_scalar), indices);
  const Tensor mask = eq(unsqueeze(idx, -1), grid);  // indices.shape + (size,)
  return {sum(where(mask, xs, Tensor::zeros({}, x.dtype())), {-1})};
}

const OperatorDef kIndexOperators[] = {
    {"DepthToSpace", 1, convert_depth_to_space, "4-D input; modes DCR, CRD"},
    {"GatherElements", 11, convert_gather_elements,
     "a one-hot mask + where + sum; an out-of-range index gives 0"},
    {"SpaceToDepth", 1, convert_space_to_depth, "4-D input"},
    {"Trilu", 14, convert_trilu, "k must be constant"},
    {"EyeLike", 9, convert_eye_like, ""},
    {"OneHot", 9, convert_one_hot,
     "depth and values must be constant; out-of-range indices give an all-off row"},
    {"CumSum", 11, convert_cum_sum,
     "axis must be constant; a product with a triangular matrix (int64: in float64, exact "
     "below 2^53)"},
};

}  // namespace

std::span<const OperatorDef> index_operators() {
  return kIndexOperators;
}

}  // namespace duet::onnx::detail

// ONNX shape operators (Flatten, Reshape, Transpose, Concat, Squeeze/Unsqueeze, Pad, Expand,
// Tile, Split, Slice, Gather) and the value sources (Shape, Size, Constant, ConstantOfShape,
// Range), mapped onto duet's ops (src/onnx/import_ops.h). Shapes, pads, axes and indices are
// read from constant inputs (or attributes in older opsets); a value computed at run time in
// those places is not supported. Static shapes are known even for symbolic tensors, so Shape
// and Size fold to constants and Shape -> Gather -> Concat -> Reshape chains reach a compiled
// graph as one reshape.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "duet/ops.h"
#include "onnx/import_tensor_util.h"

namespace duet::onnx::detail {
namespace {

std::string str(const std::vector<int64_t>& v) {
  return shape_str(Shape(v));
}

// An input's values that must be known at import time (a shape, axes, pads ...).
std::vector<int64_t> const_ints(const NodeContext& n, size_t i, const char* what) {
  if (!n.has_input(i)) n.fail(std::string(what) + " (input " + std::to_string(i) + ") is missing");
  if (!n.is_constant(i)) {
    n.fail(std::string(what) + " (input " + std::to_string(i) +
           ") is computed at run time: not supported (it must be constant: an initializer, a "
           "Constant or computed from Shape)");
  }
  return n.constant_ints(i);
}

Shape with_dim(const Shape& s, size_t axis, int64_t v) {
  Shape out = s;
  out[axis] = v;
  return out;
}

// ---- Flatten, Reshape, Transpose ----

std::vector<Tensor> convert_flatten(NodeContext& n) {
  n.expect_attrs({"axis"});
  const Tensor& x = n.input(0);
  const int64_t r = x.dim();
  int64_t axis = n.attr_int("axis", 1);
  if (axis < -r || axis > r) {
    n.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r) +
           " (expected -" + std::to_string(r) + " ... " + std::to_string(r) + ")");
  }
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < r; ++d) {
    if (d < axis) {
      outer = checked_mul(outer, x.size(d), "Flatten");
    } else {
      inner = checked_mul(inner, x.size(d), "Flatten");
    }
  }
  return {reshape(x, {outer, inner})};
}

std::vector<Tensor> convert_reshape(NodeContext& n) {
  n.expect_attrs({"allowzero"});
  const Tensor& x = n.input(0);
  const bool allowzero = n.attr_int("allowzero", 0) != 0;
  const std::vector<int64_t> spec = const_ints(n, 1, "shape");
  check_rank(n, spec.size(), "shape");
  Shape out;
  int64_t infer_at = -1, known = 1;
  bool has_zero = false;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t v = spec[i];
    if (v == -1) {
      if (infer_at >= 0) n.fail("shape " + str(spec) + " has more than one -1");
      infer_at = static_cast<int64_t>(i);
      out.push_back(1);
      continue;
    }
    if (v == 0 && !allowzero) {
      if (static_cast<int64_t>(i) >= x.dim()) {
        n.fail("shape " + str(spec) + ": 0 at position " + std::to_string(i) +
               " copies an input dimension, but the input " + shape_str(x.shape()) + " has rank " +
               std::to_string(x.dim()));
      }
      v = x.size(static_cast<int64_t>(i));
    } else if (v < 0) {
      n.fail("shape " + str(spec) + " holds " + std::to_string(v) + " (expected >= -1)");
    }
    has_zero = has_zero || v == 0;
    known = v == 0 ? known : checked_mul(known, v, "Reshape");
    out.push_back(v);
  }
  const int64_t total = x.numel();
  if (infer_at >= 0) {
    if (has_zero) {
      n.fail("shape " + str(spec) + " has both a -1 and a 0 dimension (ambiguous)");
    }
    if (total % known != 0) {
      n.fail("cannot reshape " + shape_str(x.shape()) + " to " + str(spec) +
             ": -1 would not be a whole number");
    }
    out[static_cast<size_t>(infer_at)] = total / known;
  } else if ((has_zero ? 0 : known) != total) {
    n.fail("cannot reshape " + shape_str(x.shape()) + " (" + std::to_string(total) +
           " elements) to " + shape_str(out));
  }
  if (out == x.shape()) return {x};
  return {reshape(x, out)};
}

std::vector<Tensor> convert_transpose(NodeContext& n) {
  n.expect_attrs({"perm"});
  const Tensor& x = n.input(0);
  const int64_t r = x.dim();
  std::vector<int64_t> perm(static_cast<size_t>(r));
  for (int64_t i = 0; i < r; ++i) perm[static_cast<size_t>(i)] = r - 1 - i;
  if (n.has_attr("perm")) perm = n.attr_ints("perm");
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool ok = static_cast<int64_t>(perm.size()) == r;
  for (int64_t i = 0; ok && i < r; ++i) ok = sorted[static_cast<size_t>(i)] == i;
  if (!ok) {
    n.fail("perm " + str(perm) + " is not a permutation of the " + std::to_string(r) +
           " axes of the input " + shape_str(x.shape()));
  }
  bool identity = true;
  for (int64_t i = 0; i < r; ++i) identity = identity && perm[static_cast<size_t>(i)] == i;
  if (identity) return {x};
  return {permute(x, perm)};
}

// ---- Concat, Split ----

std::vector<Tensor> convert_concat(NodeContext& n) {
  n.expect_attrs({"axis"});
  if (!n.has_attr("axis")) n.fail("attribute 'axis' is missing");
  if (n.num_inputs() == 0) n.fail("has no inputs");
  std::vector<Tensor> xs;
  for (size_t i = 0; i < n.num_inputs(); ++i) {
    const Tensor& t = n.input(i);
    if (!xs.empty() && t.dtype() != xs[0].dtype()) {
      n.fail(std::string("inputs have different element types (") + dtype_name(xs[0].dtype()) +
             " and " + dtype_name(t.dtype()) + ")");
    }
    if (!xs.empty() && t.dim() != xs[0].dim()) {
      n.fail("input " + std::to_string(i) + " has shape " + shape_str(t.shape()) + ", input 0 " +
             shape_str(xs[0].shape()) + " (expected the same rank)");
    }
    xs.push_back(t);
  }
  if (xs[0].dim() == 0) n.fail("cannot concatenate 0-d tensors");
  const int64_t axis = norm_axis(n, n.attr_int("axis", 0), xs[0].dim(), "axis");
  if (xs.size() == 1) return {xs[0]};
  return {concat(xs, axis)};
}

std::vector<Tensor> convert_split(NodeContext& n) {
  n.expect_attrs(n.opset() < 13 ? std::initializer_list<const char*>{"axis", "split"}
                                : std::initializer_list<const char*>{"axis"});
  const Tensor& x = n.input(0);
  if (x.dim() == 0) n.fail("cannot split a 0-d tensor");
  const int64_t axis = norm_axis(n, n.attr_int("axis", 0), x.dim(), "axis");
  const int64_t size = x.size(axis);
  const size_t k = n.num_outputs();
  if (k == 0) n.fail("has no outputs");
  std::vector<int64_t> sizes;
  if (n.opset() >= 13 && n.has_input(1)) {
    sizes = const_ints(n, 1, "split");
  } else if (n.opset() < 13 && n.has_attr("split")) {
    sizes = n.attr_ints("split");
  } else {
    if (size % static_cast<int64_t>(k) != 0) {
      n.fail("axis " + std::to_string(axis) + " of size " + std::to_string(size) +
             " does not split into " + std::to_string(k) + " equal parts");
    }
    sizes.assign(k, size / static_cast<int64_t>(k));
  }
  if (sizes.size() != k) {
    n.fail("split " + str(sizes) + " has " + std::to_string(sizes.size()) + " sizes for " +
           std::to_string(k) + " outputs");
  }
  int64_t at = 0;
  std::vector<Tensor> outs;
  for (int64_t s : sizes) {
    if (s < 0 || s > size - at) {
      n.fail("split " + str(sizes) + " does not add up to the size " + std::to_string(size) +
             " of axis " + std::to_string(axis));
    }
    outs.push_back(slice(x, axis, at, at + s));
    at += s;
  }
  if (at != size) {
    n.fail("split " + str(sizes) + " adds up to " + std::to_string(at) + ", axis " +
           std::to_string(axis) + " has size " + std::to_string(size));
  }
  return outs;
}

// ---- Squeeze, Unsqueeze ----

std::vector<int64_t> squeeze_axes(NodeContext& n, bool required, bool* given) {
  *given = true;
  if (n.opset() >= 13) {
    if (n.has_input(1)) return const_ints(n, 1, "axes");
  } else if (n.has_attr("axes")) {
    return n.attr_ints("axes");
  }
  if (required) n.fail("axes are missing");
  *given = false;
  return {};
}

std::vector<Tensor> convert_squeeze(NodeContext& n) {
  n.expect_attrs(n.opset() < 13 ? std::initializer_list<const char*>{"axes"}
                                : std::initializer_list<const char*>{});
  const Tensor& x = n.input(0);
  bool given = false;
  const std::vector<int64_t> raw = squeeze_axes(n, false, &given);
  given = given && !raw.empty();  // empty axes squeeze every size-1 dim, as ONNX Runtime does
  std::vector<int64_t> axes = norm_axes(n, raw, x.dim(), "axes");
  Shape out;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const bool listed = std::find(axes.begin(), axes.end(), d) != axes.end();
    if (listed && x.size(d) != 1) {
      n.fail("axis " + std::to_string(d) + " of the input " + shape_str(x.shape()) + " has size " +
             std::to_string(x.size(d)) + " (expected 1)");
    }
    if (listed || (!given && x.size(d) == 1)) continue;
    out.push_back(x.size(d));
  }
  if (out == x.shape()) return {x};
  return {reshape(x, out)};
}

std::vector<Tensor> convert_unsqueeze(NodeContext& n) {
  n.expect_attrs(n.opset() < 13 ? std::initializer_list<const char*>{"axes"}
                                : std::initializer_list<const char*>{});
  const Tensor& x = n.input(0);
  bool given = false;
  const std::vector<int64_t> raw = squeeze_axes(n, true, &given);
  check_rank(n, static_cast<size_t>(x.dim()) + raw.size(), "the output");
  const int64_t r = x.dim() + static_cast<int64_t>(raw.size());
  const std::vector<int64_t> axes = norm_axes(n, raw, r, "axes");
  Shape out;
  int64_t src = 0;
  for (int64_t d = 0; d < r; ++d) {
    if (std::find(axes.begin(), axes.end(), d) != axes.end()) {
      out.push_back(1);
    } else {
      out.push_back(x.size(src++));
    }
  }
  return {reshape(x, out)};
}

// ---- Pad ----

Tensor edge_pad(const Tensor& x, int64_t axis, int64_t before, int64_t after) {
  std::vector<Tensor> parts;
  const int64_t size = x.size(axis);
  if (before > 0) {
    parts.push_back(
        expand(slice(x, axis, 0, 1), with_dim(x.shape(), static_cast<size_t>(axis), before)));
  }
  parts.push_back(x);
  if (after > 0) {
    parts.push_back(expand(slice(x, axis, size - 1, size),
                           with_dim(x.shape(), static_cast<size_t>(axis), after)));
  }
  return parts.size() == 1 ? x : concat(parts, axis);
}

Tensor reflect_pad(const NodeContext& n, const Tensor& x, int64_t axis, int64_t before,
                   int64_t after, bool host) {
  const int64_t size = x.size(axis);
  if (before >= size || after >= size) {
    n.fail("reflect pads (" + std::to_string(before) + ", " + std::to_string(after) + ") of axis " +
           std::to_string(axis) + " must be smaller than its size " + std::to_string(size));
  }
  std::vector<Tensor> parts;
  std::vector<int64_t> idx;
  for (int64_t i = before; i >= 1; --i) idx.push_back(i);
  if (!idx.empty()) parts.push_back(take(n, x, axis, idx, host));
  parts.push_back(x);
  idx.clear();
  for (int64_t i = size - 2; i >= size - 1 - after; --i) idx.push_back(i);
  if (!idx.empty()) parts.push_back(take(n, x, axis, idx, host));
  return parts.size() == 1 ? x : concat(parts, axis);
}

std::vector<Tensor> convert_pad(NodeContext& n) {
  const bool old = n.opset() < 11;
  n.expect_attrs(old ? std::initializer_list<const char*>{"mode", "pads", "value"}
                     : std::initializer_list<const char*>{"mode"});
  Tensor x = n.input(0);
  const int64_t r = x.dim();
  const std::string mode = n.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    n.fail("mode '" + mode + "' is not supported (supported: constant, reflect, edge)");
  }
  std::vector<int64_t> pads;
  double value = 0.0;
  if (old) {
    if (!n.has_attr("pads")) n.fail("attribute 'pads' is missing");
    pads = n.attr_ints("pads");
    value = n.attr_float("value", 0.0);
  } else {
    pads = const_ints(n, 1, "pads");
    if (n.has_input(2)) {
      if (!n.is_constant(2))
        n.fail("constant_value (input 2) is computed at run time: not supported");
      const std::vector<double> v = n.constant_doubles(2);
      if (v.size() != 1)
        n.fail("constant_value has " + std::to_string(v.size()) + " values (expected 1)");
      value = v[0];
    }
    if (n.has_input(3)) n.fail("the axes input (opset 18) is not supported");
  }
  if (static_cast<int64_t>(pads.size()) != 2 * r) {
    n.fail("pads " + str(pads) + " has " + std::to_string(pads.size()) +
           " values for an input of rank " + std::to_string(r) + " (expected " +
           std::to_string(2 * r) + ")");
  }
  // Negative pads crop.
  for (int64_t d = 0; d < r; ++d) {
    const int64_t b = pads[static_cast<size_t>(d)], e = pads[static_cast<size_t>(d + r)];
    const int64_t size = x.size(d);
    if (b >= 0 && e >= 0) continue;
    const int64_t cb = b < 0 ? -std::max(b, -size) : 0, ce = e < 0 ? -std::max(e, -size) : 0;
    if (b < -size || e < -size || cb + ce > size) {
      n.fail("pads " + str(pads) + " crop more than the size " + std::to_string(size) +
             " of axis " + std::to_string(d));
    }
    x = slice(x, d, cb, size - ce);
  }
  bool any = false;
  for (int64_t p : pads) any = any || p > 0;
  if (!any) return {x};
  Shape padded = x.shape();
  for (int64_t d = 0; d < r; ++d) {
    const int64_t b = std::max<int64_t>(pads[static_cast<size_t>(d)], 0);
    const int64_t e = std::max<int64_t>(pads[static_cast<size_t>(d + r)], 0);
    padded[static_cast<size_t>(d)] = checked_add(checked_add(x.size(d), b, "Pad"), e, "Pad");
  }
  checked_host_bytes(n, padded, x.dtype(), "Pad");
  if (mode == "constant") {
    std::vector<int64_t> duet_pads;
    for (int64_t d = r - 1; d >= 0; --d) {
      duet_pads.push_back(std::max<int64_t>(pads[static_cast<size_t>(d)], 0));
      duet_pads.push_back(std::max<int64_t>(pads[static_cast<size_t>(d + r)], 0));
    }
    return {pad(x, duet_pads, value)};
  }
  for (int64_t d = 0; d < r; ++d) {
    const int64_t b = std::max<int64_t>(pads[static_cast<size_t>(d)], 0);
    const int64_t e = std::max<int64_t>(pads[static_cast<size_t>(d + r)], 0);
    if (b == 0 && e == 0) continue;
    if (x.size(d) == 0) n.fail(mode + " padding of the empty axis " + std::to_string(d));
    x = mode == "edge" ? edge_pad(x, d, b, e) : reflect_pad(n, x, d, b, e, n.is_constant(0));
  }
  return {x};
}

// ---- Expand, Tile ----

std::vector<Tensor> convert_expand(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& x = n.input(0);
  const std::vector<int64_t> shape = const_ints(n, 1, "shape");
  check_rank(n, shape.size(), "shape");
  for (int64_t d : shape) {
    if (d < 0) n.fail("shape " + str(shape) + " has a negative dimension");
  }
  Shape out;
  try {
    out = broadcast_shapes(x.shape(), Shape(shape), "Expand");
  } catch (const Error& e) {
    n.fail(e.what());
  }
  if (out == x.shape()) return {x};
  checked_host_bytes(n, out, x.dtype(), "Expand");
  // An expanded constant is a view; make it dense so later host reads see plain data.
  Tensor y = expand(x, out);
  return {n.is_constant(0) ? contiguous(y) : y};
}

std::vector<Tensor> convert_tile(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& x = n.input(0);
  const std::vector<int64_t> reps = const_ints(n, 1, "repeats");
  const int64_t r = x.dim();
  if (static_cast<int64_t>(reps.size()) != r) {
    n.fail("repeats " + str(reps) + " has " + std::to_string(reps.size()) +
           " values for an input of rank " + std::to_string(r));
  }
  Shape split, big, out;
  for (int64_t d = 0; d < r; ++d) {
    const int64_t k = reps[static_cast<size_t>(d)];
    if (k < 0) n.fail("repeats " + str(reps) + " has a negative value");
    split.push_back(1);
    split.push_back(x.size(d));
    big.push_back(k);
    big.push_back(x.size(d));
    out.push_back(checked_mul(k, x.size(d), "Tile"));
  }
  if (out == x.shape()) return {x};
  checked_host_bytes(n, out, x.dtype(), "Tile");
  return {reshape(expand(reshape(x, split), big), out)};
}

// ---- Slice ----

std::vector<Tensor> convert_slice(NodeContext& n) {
  const bool old = n.opset() < 10;
  n.expect_attrs(old ? std::initializer_list<const char*>{"starts", "ends", "axes"}
                     : std::initializer_list<const char*>{});
  Tensor x = n.input(0);
  std::vector<int64_t> starts, ends, axes, steps;
  bool has_axes = false;
  if (old) {
    starts = n.attr_ints("starts");
    ends = n.attr_ints("ends");
    has_axes = n.has_attr("axes");
    if (has_axes) axes = n.attr_ints("axes");
  } else {
    starts = const_ints(n, 1, "starts");
    ends = const_ints(n, 2, "ends");
    has_axes = n.has_input(3);
    if (has_axes) axes = const_ints(n, 3, "axes");
    if (n.has_input(4)) steps = const_ints(n, 4, "steps");
  }
  const size_t k = starts.size();
  if (!has_axes) {
    axes.resize(k);
    std::iota(axes.begin(), axes.end(), int64_t{0});
  }
  if (steps.empty()) steps.assign(k, 1);
  if (ends.size() != k || axes.size() != k || steps.size() != k) {
    n.fail("starts " + str(starts) + ", ends " + str(ends) + ", axes " + str(axes) + " and steps " +
           str(steps) + " differ in length");
  }
  if (x.dim() == 0) n.fail("cannot slice a 0-d tensor");
  axes = norm_axes(n, axes, x.dim(), "axes");
  for (size_t i = 0; i < k; ++i) {
    const int64_t axis = axes[i], dim = x.size(axis);
    int64_t s = starts[i], e = ends[i], step = steps[i];
    if (step == 0) n.fail("steps " + str(steps) + " holds 0");
    if (s < 0) s += dim;  // no overflow: s < 0 <= dim
    if (e < 0) e += dim;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      if (e <= s) {
        x = slice(x, axis, s, s);
      } else if (!(s == 0 && e == dim && step == 1)) {
        x = slice(x, axis, s, e, std::min(step, dim));
      }
      continue;
    }
    if (dim == 0) continue;  // an empty axis stays empty
    s = std::clamp<int64_t>(s, 0, dim - 1);
    e = std::clamp<int64_t>(e, -1, dim - 1);
    const int64_t st = std::max<int64_t>(step, -std::max<int64_t>(dim, 1));
    std::vector<int64_t> idx;
    for (int64_t j = s; j > e; j += st) idx.push_back(j);
    x = take(n, x, axis, idx, n.is_constant(0));
  }
  return {x};
}

// ---- Gather ----

std::vector<Tensor> convert_gather(NodeContext& n) {
  n.expect_attrs({"axis"});
  const Tensor& x = n.input(0);
  if (x.dim() == 0) n.fail("cannot gather from a 0-d tensor");
  const int64_t axis = norm_axis(n, n.attr_int("axis", 0), x.dim(), "axis");
  if (!n.is_constant(1)) return {gather_computed(n, x, axis, n.input(1))};
  const Shape ishape = n.input(1).shape();
  std::vector<int64_t> idx = n.constant_ints(1);
  const int64_t size = x.size(axis);
  for (int64_t& v : idx) {
    if (v < -size || v >= size) {
      n.fail("index " + std::to_string(v) + " is out of range for axis " + std::to_string(axis) +
             " of size " + std::to_string(size) + " (input " + shape_str(x.shape()) + ")");
    }
    if (v < 0) v += size;
  }
  Tensor g = take(n, x, axis, idx, n.is_constant(0));
  Shape out(x.shape().begin(), x.shape().begin() + axis);
  out.insert(out.end(), ishape.begin(), ishape.end());
  out.insert(out.end(), x.shape().begin() + axis + 1, x.shape().end());
  if (out == g.shape()) return {g};
  return {reshape(g, out)};
}

// ---- Shape, Size, Constant, ConstantOfShape, Range ----

std::vector<Tensor> convert_shape(NodeContext& n) {
  n.expect_attrs({"start", "end"});
  const Tensor& x = n.input(0);
  const int64_t r = x.dim();
  auto clamp_axis = [r](int64_t a) { return std::clamp<int64_t>(a < 0 ? a + r : a, 0, r); };
  const int64_t s = clamp_axis(n.attr_int("start", 0));
  const int64_t e = clamp_axis(n.attr_int("end", r));
  std::vector<int64_t> dims;
  for (int64_t d = s; d < e; ++d) dims.push_back(x.size(d));
  n.set_outputs_constant();
  return {int64_tensor(dims)};
}

std::vector<Tensor> convert_size(NodeContext& n) {
  n.expect_attrs({});
  n.set_outputs_constant();
  return {int64_tensor({n.input(0).numel()}, true)};
}

std::vector<Tensor> convert_constant(NodeContext& n) {
  n.expect_attrs({"value", "value_float", "value_floats", "value_int", "value_ints", "value_string",
                  "value_strings", "sparse_value"});
  for (const char* unsupported : {"value_string", "value_strings", "sparse_value"}) {
    if (n.has_attr(unsupported))
      n.fail(std::string("attribute '") + unsupported + "' is not supported");
  }
  int set = 0;
  for (const char* a : {"value", "value_float", "value_floats", "value_int", "value_ints"}) {
    set += n.has_attr(a) ? 1 : 0;
  }
  if (set != 1) n.fail("expected exactly one value attribute, found " + std::to_string(set));
  if (n.has_attr("value")) return {n.attr_tensor("value")};
  if (n.has_attr("value_float")) return {Tensor::scalar(n.attr_float("value_float", 0.0), float32)};
  if (n.has_attr("value_int")) return {int64_tensor({n.attr_int("value_int", 0)}, true)};
  if (n.has_attr("value_ints")) return {int64_tensor(n.attr_ints("value_ints"))};
  const std::vector<double> v = n.attr_floats("value_floats");
  return {Tensor::from_vector(v, Shape{static_cast<int64_t>(v.size())}, float32)};
}

std::vector<Tensor> convert_constant_of_shape(NodeContext& n) {
  n.expect_attrs({"value"});
  const std::vector<int64_t> shape = const_ints(n, 0, "shape");
  check_rank(n, shape.size(), "shape");
  Tensor value = n.has_attr("value") ? n.attr_tensor("value") : Tensor::zeros({1}, float32);
  if (value.numel() != 1) {
    n.fail("attribute 'value' has " + std::to_string(value.numel()) + " elements (expected 1)");
  }
  checked_host_bytes(n, Shape(shape), value.dtype(), "ConstantOfShape");
  if (value.dtype() == int64) {
    const int64_t v = value.contiguous().to_vector<int64_t>()[0];
    return {Tensor::from_vector(std::vector<int64_t>(static_cast<size_t>(numel(Shape(shape))), v),
                                Shape(shape), int64)};
  }
  const double v = value.to(float64).contiguous().to_vector<double>()[0];
  return {Tensor::full(Shape(shape), v, value.dtype())};
}

std::vector<Tensor> convert_range(NodeContext& n) {
  n.expect_attrs({});
  for (size_t i = 0; i < 3; ++i) {
    if (!n.is_constant(i))
      n.fail("input " + std::to_string(i) + " is computed at run time: not supported");
    if (n.input(i).numel() != 1) {
      n.fail("input " + std::to_string(i) + " has shape " + shape_str(n.input(i).shape()) +
             " (expected a scalar)");
    }
    if (n.input(i).dtype() != n.input(0).dtype()) n.fail("inputs have different element types");
  }
  const DType t = n.input(0).dtype();
  if (t == int64) {
    const int64_t s = n.constant_ints(0)[0], l = n.constant_ints(1)[0], d = n.constant_ints(2)[0];
    if (d == 0) n.fail("delta is 0");
    int64_t diff = 0;
    if (__builtin_sub_overflow(l, s, &diff)) n.fail("limit - start overflows int64");
    const int64_t count = std::max<int64_t>(diff / d + (diff % d != 0 ? 1 : 0), 0);
    checked_host_bytes(n, Shape{count}, int64, "Range");
    std::vector<int64_t> v(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) v[static_cast<size_t>(i)] = s + i * d;
    return {Tensor::from_vector(v, Shape{count}, int64)};
  }
  if (!is_floating(t)) n.fail(std::string("element type ") + dtype_name(t) + " is not supported");
  const double s = n.constant_doubles(0)[0], l = n.constant_doubles(1)[0];
  const double d = n.constant_doubles(2)[0];
  if (d == 0.0 || !std::isfinite(s) || !std::isfinite(l) || !std::isfinite(d)) {
    n.fail("start, limit and delta must be finite and delta nonzero");
  }
  const double c = std::max(std::ceil((l - s) / d), 0.0);
  if (!(c < 1e15)) n.fail("the range holds too many elements");
  const int64_t count = static_cast<int64_t>(c);
  checked_host_bytes(n, Shape{count}, t, "Range");
  std::vector<double> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v[static_cast<size_t>(i)] = s + static_cast<double>(i) * d;
  return {Tensor::from_vector(v, Shape{count}, t)};
}

const OperatorDef kShapeOperators[] = {
    {"Flatten", 1, convert_flatten, ""},
    {"Reshape", 5, convert_reshape, "the shape input must be constant"},
    {"Transpose", 1, convert_transpose, ""},
    {"Concat", 4, convert_concat, ""},
    {"Split", 2, convert_split, "split sizes must be constant"},
    {"Squeeze", 1, convert_squeeze, "axes must be constant"},
    {"Unsqueeze", 1, convert_unsqueeze, "axes must be constant"},
    {"Pad", 2, convert_pad,
     "modes constant, edge, reflect; pads and constant_value must be constant; no axes input "
     "(opset 18); reflect of a computed int64/bool tensor: at most 256 rows per side"},
    {"Expand", 8, convert_expand, "the shape input must be constant"},
    {"Tile", 6, convert_tile, "repeats must be constant"},
    {"Slice", 1, convert_slice,
     "starts/ends/axes/steps must be constant; a negative step on a computed tensor: slices "
     "(past 256, a selection matmul; int64/bool: at most 256)"},
    {"Gather", 1, convert_gather,
     "constant indices: on the host, or slices (past 256 runs a selection matmul; int64/bool "
     "data: at most 256 runs); computed indices: a one-hot matmul, float data only"},
    {"Shape", 1, convert_shape, ""},
    {"Size", 1, convert_size, ""},
    {"Constant", 1, convert_constant, "no sparse_value, value_string(s)"},
    {"ConstantOfShape", 9, convert_constant_of_shape, "the shape input must be constant"},
    {"Range", 11, convert_range, "inputs must be constant"},
};

}  // namespace

std::span<const OperatorDef> shape_operators() {
  return kShapeOperators;
}

}  // namespace duet::onnx::detail

// ONNX Resize (opsets 10, 11, 13) and Upsample (7, 9) (src/onnx/import_ops.h). Interpolation is
// separable: for every resized axis the converter builds on the host the (out, in) matrix of
// weights ONNX's reference implementation applies (nearest with its four rounding modes, linear,
// cubic with cubic_coeff_a and exclude_outside; each coordinate_transformation_mode but
// tf_crop_and_resize), and applies it with one matmul along that axis:
//
//   x: (N, C, H, W), scales (1, 1, 2, 2) -> matmul(Wh (2H, H), x) -> matmul(., Ww^T (W, 2W))
//
// Nearest weights are one-hot rows, so the result is exact (a NaN or inf in the input spreads
// NaN along its row, and CUDA with TF32 allowed rounds to TF32); linear and cubic weights are
// rounded to the input's float type. Scales and sizes must be constant.
#include <algorithm>
#include <cmath>
#include <string>

#include "duet/ops.h"
#include "graph/ir.h"
#include "onnx/import_tensor_util.h"

namespace duet::onnx::detail {
namespace {

struct Interpolation {
  std::string mode = "nearest";  // nearest, linear, cubic
  std::string coordinates = "half_pixel";
  std::string nearest = "round_prefer_floor";  // or "simple": floor up, ceil down (opset < 11)
  double cubic_a = -0.75;
  bool exclude_outside = false;
};

double source_coordinate(const NodeContext& n, const Interpolation& s, int64_t o, int64_t in,
                         double scale) {
  const double out_width = scale * static_cast<double>(in);  // not rounded, as the reference
  const double x = static_cast<double>(o);
  const std::string& c = s.coordinates;
  if (c == "half_pixel") return (x + 0.5) / scale - 0.5;
  if (c == "pytorch_half_pixel") return out_width == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
  if (c == "asymmetric") return x / scale;
  if (c == "align_corners") {
    return out_width == 1 ? 0.0 : x * static_cast<double>(in - 1) / (out_width - 1);
  }
  if (c == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
  n.fail("coordinate_transformation_mode '" + c +
         "' is not supported (supported: half_pixel, "
         "pytorch_half_pixel, asymmetric, align_corners, tf_half_pixel_for_nn)");
}

std::vector<double> cubic_coeffs(double r, double a) {
  const double p = r + 1, q = 1 - r, t = q + 1;
  return {((a * p - 5 * a) * p + 8 * a) * p - 4 * a, ((a + 2) * r - (a + 3)) * r * r + 1,
          ((a + 2) * q - (a + 3)) * q * q + 1, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a};
}

// Row o of the (out, in) matrix holds the weights of the input positions output o reads.
std::vector<double> axis_weights(const NodeContext& n, const Interpolation& s, int64_t in,
                                 int64_t out, double scale) {
  std::vector<double> w(static_cast<size_t>(out * in), 0.0);
  for (int64_t o = 0; o < out; ++o) {
    // Past a few positions outside the axis every neighbour clamps to the edge: clamping x
    // there changes no weight and keeps the casts below in range.
    const double x =
        std::clamp(source_coordinate(n, s, o, in, scale), -4.0, static_cast<double>(in) + 4.0);
    double* row = w.data() + o * in;
    auto clamp = [in](int64_t i) { return std::min(std::max<int64_t>(i, 0), in - 1); };
    if (s.mode == "nearest" && s.nearest == "simple") {
      row[clamp(static_cast<int64_t>(scale < 1 ? std::ceil(x) : std::floor(x)))] = 1;
      continue;
    }
    // The window of ONNX's reference: the n nearest positions, ratio in (0, 1].
    const double fl = std::floor(x);
    const bool whole = x == fl;
    const double r = whole ? 1.0 : x - fl;
    const int64_t i0 = static_cast<int64_t>(fl) - (whole ? 1 : 0);
    std::vector<double> c;
    int64_t first = i0;
    if (s.mode == "nearest") {
      const std::string& m = s.nearest;
      if (whole || m == "ceil") {
        c = {0, 1};
      } else if (m == "floor") {
        c = {1, 0};
      } else if (m == "round_prefer_ceil") {
        c = {r < 0.5 ? 1.0 : 0.0, r >= 0.5 ? 1.0 : 0.0};
      } else {
        c = {r <= 0.5 ? 1.0 : 0.0, r > 0.5 ? 1.0 : 0.0};
      }
    } else if (s.mode == "linear") {
      c = {1 - r, r};
    } else {
      c = cubic_coeffs(r, s.cubic_a);
      first = i0 - 1;
    }
    if (s.exclude_outside) {
      double sum = 0;
      for (size_t k = 0; k < c.size(); ++k) {
        const int64_t i = first + static_cast<int64_t>(k);
        if (i < 0 || i >= in) c[k] = 0;
        sum += c[k];
      }
      if (sum != 0) {
        for (double& v : c) v /= sum;
      }
    }
    for (size_t k = 0; k < c.size(); ++k) row[clamp(first + static_cast<int64_t>(k))] += c[k];
  }
  return w;
}

// y with `axis` mapped through the (out, in) weights.
Tensor resize_axis(const NodeContext& n, const Tensor& y, int64_t axis,
                   const std::vector<double>& w, int64_t in, int64_t out) {
  const int64_t r = y.dim();
  Tensor m, mt;  // (out, in) and (in, out)
  {
    duet::detail::PauseRecording pause;  // constants, made on the host
    std::vector<double> wt(w.size());
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t i = 0; i < in; ++i)
        wt[static_cast<size_t>(i * out + o)] = w[static_cast<size_t>(o * in + i)];
    }
    m = Tensor::from_vector(w, Shape{out, in}, y.dtype());
    mt = Tensor::from_vector(wt, Shape{in, out}, y.dtype());
  }
  if (axis == r - 1) return matmul(y, mt);
  if (axis == r - 2) return matmul(m, y);
  std::vector<int64_t> perm, inverse(static_cast<size_t>(r));
  for (int64_t d = 0; d < r; ++d) {
    if (d != axis) perm.push_back(d);
  }
  perm.push_back(axis);
  for (int64_t i = 0; i < r; ++i) inverse[static_cast<size_t>(perm[static_cast<size_t>(i)])] = i;
  return permute(matmul(permute(y, perm), mt), inverse);
}

Tensor resize(const NodeContext& n, const Tensor& x, const Interpolation& s,
              const std::vector<double>& scales, const std::vector<int64_t>& sizes) {
  if (!is_floating(x.dtype())) {
    n.fail(std::string("input of element type ") + dtype_name(x.dtype()) +
           " is not supported (expected float32 or float64)");
  }
  if (s.mode != "nearest" && s.mode != "linear" && s.mode != "cubic") {
    n.fail("mode '" + s.mode + "' is not supported (supported: nearest, linear, cubic)");
  }
  const auto r = static_cast<size_t>(x.dim());
  if (sizes.empty() ? scales.size() != r : sizes.size() != r) {
    n.fail(std::string(sizes.empty() ? "scales" : "sizes") + " have " +
           std::to_string(sizes.empty() ? scales.size() : sizes.size()) +
           " values for an input of rank " + std::to_string(r));
  }
  Shape out_shape = x.shape();
  std::vector<double> axis_scale(r);
  for (size_t d = 0; d < r; ++d) {
    const int64_t in = x.shape()[d];
    if (sizes.empty()) {
      const double sc = scales[d];
      if (!(sc > 0) || !std::isfinite(sc)) {
        n.fail("scale " + std::to_string(sc) + " of axis " + std::to_string(d) + " (expected > 0)");
      }
      const double o = std::floor(static_cast<double>(in) * sc);
      if (!(o < 9.0e15))
        n.fail("scale " + std::to_string(sc) + " makes axis " + std::to_string(d) + " too large");
      out_shape[d] = static_cast<int64_t>(o);
      axis_scale[d] = sc;
    } else {
      if (sizes[d] < 0) n.fail("sizes hold " + std::to_string(sizes[d]) + " (expected >= 0)");
      out_shape[d] = sizes[d];
      axis_scale[d] = in == 0 ? 1.0 : static_cast<double>(sizes[d]) / static_cast<double>(in);
    }
  }
  checked_host_bytes(n, out_shape, x.dtype(), "Resize");
  Tensor y = x;
  for (size_t d = 0; d < r; ++d) {
    const int64_t in = x.shape()[d], out = out_shape[d];
    if (in == 0 || out == 0) {
      if (in != out) n.fail("cannot resize the empty axis " + std::to_string(d));
      continue;
    }
    checked_host_bytes(n, {out, in}, float64, "Resize weights");
    const std::vector<double> w = axis_weights(n, s, in, out, axis_scale[d]);
    bool identity = in == out;
    for (int64_t o = 0; identity && o < out; ++o) {
      for (int64_t i = 0; identity && i < in; ++i) {
        identity = w[static_cast<size_t>(o * in + i)] == (o == i ? 1.0 : 0.0);
      }
    }
    if (!identity) y = resize_axis(n, y, static_cast<int64_t>(d), w, in, out);
  }
  return y;
}

std::vector<double> const_doubles(const NodeContext& n, size_t i, const char* what) {
  if (!n.is_constant(i)) {
    n.fail(std::string(what) + " (input " + std::to_string(i) +
           ") is computed at run time: not supported (it must be constant)");
  }
  return n.constant_doubles(i);
}

std::vector<Tensor> convert_resize(NodeContext& n) {
  Interpolation s;
  std::vector<double> scales;
  std::vector<int64_t> sizes;
  if (n.opset() < 11) {
    n.expect_attrs({"mode"});
    s.mode = n.attr_string("mode", "nearest");
    s.coordinates = "asymmetric";
    s.nearest = "simple";
    scales = const_doubles(n, 1, "scales");
  } else {
    n.expect_attrs({"coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
                    "extrapolation_value", "mode", "nearest_mode"});
    s.mode = n.attr_string("mode", "nearest");
    s.coordinates = n.attr_string("coordinate_transformation_mode", "half_pixel");
    s.nearest = n.attr_string("nearest_mode", "round_prefer_floor");
    s.cubic_a = n.attr_float("cubic_coeff_a", -0.75);
    s.exclude_outside = n.attr_int("exclude_outside", 0) != 0;
    if (s.nearest != "round_prefer_floor" && s.nearest != "round_prefer_ceil" &&
        s.nearest != "floor" && s.nearest != "ceil") {
      n.fail("nearest_mode '" + s.nearest + "' is not supported");
    }
    if (n.has_input(3)) {
      if (!n.is_constant(3)) n.fail("sizes (input 3) is computed at run time: not supported");
      sizes = n.constant_ints(3);
    }
    if (sizes.empty() && n.has_input(2)) scales = const_doubles(n, 2, "scales");
    if (sizes.empty() && scales.empty()) n.fail("neither scales nor sizes are given");
  }
  return {resize(n, n.input(0), s, scales, sizes)};
}

std::vector<Tensor> convert_upsample(NodeContext& n) {
  Interpolation s;
  s.coordinates = "asymmetric";
  s.nearest = "simple";
  std::vector<double> scales;
  if (n.opset() < 9) {
    n.expect_attrs({"mode", "scales"});
    scales = n.attr_floats("scales");
  } else {
    n.expect_attrs({"mode"});
    scales = const_doubles(n, 1, "scales");
  }
  s.mode = n.attr_string("mode", "nearest");
  if (s.mode == "bilinear") s.mode = "linear";  // Upsample-7's other spelling
  if (s.mode == "cubic") n.fail("mode 'cubic' is not supported for Upsample");
  return {resize(n, n.input(0), s, scales, {})};
}

const OperatorDef kResizeOperators[] = {
    {"Resize", 10, convert_resize,
     "float input; constant scales/sizes; modes nearest, linear, cubic; every "
     "coordinate_transformation_mode but tf_crop_and_resize"},
    {"Upsample", 7, convert_upsample, "float input; constant scales; modes nearest, linear"},
};

}  // namespace

std::span<const OperatorDef> resize_operators() {
  return kResizeOperators;
}

}  // namespace duet::onnx::detail

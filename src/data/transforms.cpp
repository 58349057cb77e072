// Transforms on one CPU sample (..., H, W): crops, flips and normalisation by byte copies or
// plain loops (no op dispatch per sample), each checked against torchvision in
// tests/data/transforms_test.cpp.
#include "duet/data/transforms.h"

#include <cmath>
#include <cstring>

namespace duet::data {
namespace {

// x as a contiguous CPU tensor of rank >= 2 holding data.
Tensor sample(const Tensor& x, const char* fn) {
  DUET_CHECK(x.defined(), fn, ": the input is an undefined tensor");
  DUET_CHECK(!x.is_symbolic() && x.device() == cpu, fn,
             ": the input must be a CPU tensor holding data (got ", x.device(), ")");
  DUET_CHECK(x.dim() >= 2, fn, ": the input has shape ", shape_str(x.shape()),
             " (expected (C, H, W) or (H, W))");
  return x.is_contiguous() ? x : x.contiguous();
}

}  // namespace

RandomCrop::RandomCrop(int64_t h, int64_t w, int64_t p) : height(h), width(w), padding(p) {
  DUET_CHECK(h > 0 && w > 0, "RandomCrop: size = (", h, ", ", w, ") (expected > 0)");
  DUET_CHECK(p >= 0 && p <= (int64_t{1} << 20), "RandomCrop: padding = ", p,
             " (expected 0 to 2^20)");
}

Tensor RandomCrop::crop(const Tensor& input, int64_t top, int64_t left) const {
  const Tensor x = sample(input, "RandomCrop");
  const int64_t H = x.size(-2), W = x.size(-1);
  const int64_t ph = H + 2 * padding, pw = W + 2 * padding;
  DUET_CHECK(ph >= height && pw >= width, "RandomCrop: the padded input is (", ph, ", ", pw,
             ") for an input of shape ", shape_str(x.shape()), " and padding ", padding,
             " (expected at least the crop size (", height, ", ", width, "))");
  DUET_CHECK(top >= 0 && top <= ph - height && left >= 0 && left <= pw - width,
             "RandomCrop: window at (", top, ", ", left, ") (expected top in [0, ", ph - height,
             "], left in [0, ", pw - width, "])");
  Shape shape = x.shape();
  shape[shape.size() - 2] = height;
  shape[shape.size() - 1] = width;
  Tensor out = Tensor::zeros(shape, x.dtype());
  const int64_t planes = H * W == 0 ? 0 : x.numel() / (H * W);
  const size_t item = dtype_size(x.dtype());
  // Output column c reads input column c + left - padding when that lies in [0, W).
  const int64_t c0 = std::max<int64_t>(0, padding - left);
  const int64_t c1 = std::min<int64_t>(width, W + padding - left);
  const char* src = static_cast<const char*>(x.data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
  if (c1 <= c0) return out;
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t r = 0; r < height; ++r) {
      const int64_t ir = r + top - padding;
      if (ir < 0 || ir >= H) continue;
      const int64_t ic = c0 + left - padding;
      std::memcpy(dst + ((pl * height + r) * width + c0) * item,
                  src + ((pl * H + ir) * W + ic) * item, static_cast<size_t>(c1 - c0) * item);
    }
  }
  return out;
}

Tensor RandomCrop::operator()(const Tensor& x, Generator& gen) const {
  DUET_CHECK(x.defined() && x.dim() >= 2, "RandomCrop: the input has shape ",
             x.defined() ? shape_str(x.shape()) : std::string("(undefined)"),
             " (expected (C, H, W) or (H, W))");
  const int64_t ph = x.size(-2) + 2 * padding, pw = x.size(-1) + 2 * padding;
  const int64_t top = ph >= height ? static_cast<int64_t>(gen.below(ph - height + 1)) : 0;
  const int64_t left = pw >= width ? static_cast<int64_t>(gen.below(pw - width + 1)) : 0;
  return crop(x, top, left);
}

RandomHorizontalFlip::RandomHorizontalFlip(double p_) : p(p_) {
  DUET_CHECK(p >= 0.0 && p <= 1.0, "RandomHorizontalFlip: p = ", p, " (expected 0 to 1)");
}

Tensor RandomHorizontalFlip::operator()(const Tensor& input, Generator& gen) const {
  const Tensor x = sample(input, "RandomHorizontalFlip");
  const bool flip = gen.uniform() < p;
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  const int64_t W = x.size(-1);
  const int64_t rows = W == 0 ? 0 : x.numel() / W;
  const size_t item = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
  if (!flip) {
    if (x.numel()) std::memcpy(dst, src, static_cast<size_t>(x.numel()) * item);
    return out;
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < W; ++c)
      std::memcpy(dst + (r * W + c) * item, src + (r * W + W - 1 - c) * item, item);
  return out;
}

Normalize::Normalize(std::vector<double> mean_, std::vector<double> std_)
    : mean(std::move(mean_)), std(std::move(std_)) {
  DUET_CHECK(!mean.empty() && mean.size() == std.size(), "Normalize: ", mean.size(),
             " means and ", std.size(), " stds (expected the same nonzero count)");
  for (size_t c = 0; c < std.size(); ++c) {
    DUET_CHECK(std::isfinite(mean[c]), "Normalize: mean[", c, "] = ", mean[c],
               " (expected a finite value)");
    DUET_CHECK(std::isfinite(std[c]) && std[c] != 0.0, "Normalize: std[", c, "] = ", std[c],
               " (expected a finite nonzero value)");
  }
}

namespace {
template <class T>
void normalize_planes(const T* src, T* dst, int64_t channels, int64_t outer, int64_t plane,
                      const std::vector<double>& mean, const std::vector<double>& std) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const size_t k = mean.size() == 1 ? 0 : static_cast<size_t>(c);
      const T m = static_cast<T>(mean[k]), s = static_cast<T>(std[k]);
      const int64_t base = (o * channels + c) * plane;
      for (int64_t i = 0; i < plane; ++i) dst[base + i] = (src[base + i] - m) / s;
    }
  }
}
}  // namespace

Tensor Normalize::operator()(const Tensor& input, Generator&) const {
  const Tensor x = sample(input, "Normalize");
  DUET_CHECK(x.dtype() == float32 || x.dtype() == float64, "Normalize: the input has dtype ",
             x.dtype(), " (expected float32 or float64)");
  const int64_t channels = x.dim() >= 3 ? x.size(-3) : 1;
  DUET_CHECK(mean.size() == 1 || static_cast<int64_t>(mean.size()) == channels, "Normalize: ",
             mean.size(), " means for an input of shape ", shape_str(x.shape()), " with ",
             channels, " channels (expected 1 or ", channels, ")");
  const int64_t plane = x.size(-1) * x.size(-2);
  const int64_t outer = channels * plane == 0 ? 0 : x.numel() / (channels * plane);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  if (x.dtype() == float32)
    normalize_planes(x.data<float>(), out.data<float>(), channels, outer, plane, mean, std);
  else
    normalize_planes(x.data<double>(), out.data<double>(), channels, outer, plane, mean, std);
  return out;
}

Tensor Compose::operator()(const Tensor& x, Generator& gen) const {
  Tensor t = x;
  for (size_t i = 0; i < transforms.size(); ++i) {
    DUET_CHECK(static_cast<bool>(transforms[i]), "Compose: transform ", i, " is empty");
    t = transforms[i](t, gen);
  }
  return t;
}

}  // namespace duet::data

// Pooling modules.
#include "duet/nn/pooling.h"

#include <sstream>

#include "nn/repr_util.h"

namespace duet::nn {
namespace {

Pool2dOptions square(int64_t kernel, int64_t stride, int64_t padding) {
  Pool2dOptions o;
  o.kernel = {kernel, kernel};
  o.stride = {stride, stride};
  o.padding = {padding, padding};
  return o;
}

std::string pool_repr(const Pool2dOptions& o, bool is_max) {
  std::array<int64_t, 2> stride = o.stride;
  if (stride[0] == 0) stride = o.kernel;
  std::ostringstream os;
  os << "kernel_size=" << detail::pair_str(o.kernel) << ", stride=" << detail::pair_str(stride)
     << ", padding=" << detail::pair_str(o.padding);
  if (is_max) os << ", dilation=" << detail::pair_str(o.dilation);
  os << ", ceil_mode=" << detail::py_bool(o.ceil_mode);
  if (!is_max) os << ", count_include_pad=" << detail::py_bool(o.count_include_pad);
  return os.str();
}

// The options' own values, checked when the layer is built (the op checks them against
// an input's shape on every call).
void check_options(const Pool2dOptions& o, const char* layer) {
  DUET_CHECK(o.kernel[0] > 0 && o.kernel[1] > 0, layer, ": kernel = ", o.kernel,
             " (expected >= 1 on both axes)");
  DUET_CHECK(o.stride[0] >= 0 && o.stride[1] >= 0, layer, ": stride = ", o.stride,
             " (expected >= 1 on both axes, or 0 for the kernel size)");
  DUET_CHECK(o.padding[0] >= 0 && o.padding[1] >= 0, layer, ": padding = ", o.padding,
             " (expected >= 0 on both axes)");
  DUET_CHECK(o.dilation[0] > 0 && o.dilation[1] > 0, layer, ": dilation = ", o.dilation,
             " (expected >= 1 on both axes)");
}

}  // namespace

MaxPool2d::MaxPool2d(const Pool2dOptions& o) : Module("MaxPool2d"), options(o) {
  check_options(o, "MaxPool2d");
}
MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding)
    : MaxPool2d(square(kernel, stride, padding)) {}
Tensor MaxPool2d::forward(const Tensor& x) {
  return max_pool2d(x, options);
}
std::string MaxPool2d::extra_repr() const {
  return pool_repr(options, true);
}

AvgPool2d::AvgPool2d(const Pool2dOptions& o) : Module("AvgPool2d"), options(o) {
  check_options(o, "AvgPool2d");
}
AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride, int64_t padding)
    : AvgPool2d(square(kernel, stride, padding)) {}
Tensor AvgPool2d::forward(const Tensor& x) {
  return avg_pool2d(x, options);
}
std::string AvgPool2d::extra_repr() const {
  return pool_repr(options, false);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::array<int64_t, 2> size)
    : Module("AdaptiveAvgPool2d"), output_size(size) {
  DUET_CHECK(size[0] > 0 && size[1] > 0,
             "AdaptiveAvgPool2d: output_size = ", detail::pair_str(size),
             " (expected positive sizes)");
}
Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  return adaptive_avg_pool2d(x, output_size);
}
std::string AdaptiveAvgPool2d::extra_repr() const {
  return "output_size=" + detail::pair_str(output_size);
}

}  // namespace duet::nn

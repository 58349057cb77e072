// Printing tensors, PyTorch-style: nested brackets, summarised past 1000 elements.
#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/tensor_impl.h"

namespace duet {
namespace {

void print_rec(std::ostream& os, const std::vector<double>& v, const Shape& shape, size_t axis,
               int64_t offset, const Shape& strides, bool summarise, int indent) {
  if (shape.empty()) {
    os << v[offset];
    return;
  }
  const int64_t n = shape[axis];
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && n > 6 && i == 3) {
      os << "...";
      i = n - 4;
      os << (axis + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
      continue;
    }
    if (axis + 1 == shape.size()) {
      os << v[offset + i * strides[axis]];
    } else {
      print_rec(os, v, shape, axis + 1, offset + i * strides[axis], strides, summarise, indent + 1);
    }
    if (i + 1 < n) os << (axis + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  os << "]";
}

}  // namespace

std::string Tensor::str() const {
  std::ostringstream os;
  if (!defined()) return "Tensor(undefined)";
  if (is_symbolic()) {
    os << "Tensor(symbolic, shape=" << shape_str(shape()) << ", dtype=" << dtype() << ")";
    return os.str();
  }
  std::vector<double> v = to_vector<double>();
  os << "tensor(";
  os << std::setprecision(dtype() == float64 ? 8 : 4);
  print_rec(os, v, shape(), 0, 0, contiguous_strides(shape()), numel() > 1000, 7);
  os << ", shape=" << shape_str(shape()) << ", dtype=" << dtype();
  if (device().type != DeviceType::cpu) os << ", device=" << device();
  if (requires_grad()) os << ", requires_grad=true";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.str();
}

}  // namespace duet

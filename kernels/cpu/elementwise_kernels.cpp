#include "cpu/elementwise_kernels.h"

namespace duet::cpu_kernels {

Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  const Shape& s = t.shape();
  Shape cs = contiguous_strides(s);
  Shape st(out_shape.size(), 0);
  const size_t lead = out_shape.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i) st[lead + i] = s[i] == 1 ? 0 : cs[i];
  return st;
}

}  // namespace duet::cpu_kernels

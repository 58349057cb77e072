#include "shape_kernels.h"

#include <cstring>

#include "core/copy.h"
#include "core/dtype_dispatch.h"
#include "core/tensor_impl.h"
#include "cpu/convert.h"
#include "reduce_kernels.h"

namespace duet::cpu_kernels {

void sum_to(const KernelArgs& k) {
  // Reuse the (parallel, double-accumulating) sum kernel over the broadcast axes, writing
  // through a keepdim-shaped view of the output.
  const Tensor& x = k.inputs[0];
  const Shape& xs = x.shape();
  const Shape& os = k.outputs[0].shape();
  const size_t lead = xs.size() - os.size();
  std::vector<int64_t> axes;
  Shape keep(xs.size(), 1);
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i < lead || (os[i - lead] == 1 && xs[i] != 1)) {
      axes.push_back(static_cast<int64_t>(i));
    } else {
      keep[i] = xs[i];
    }
  }
  if (axes.empty()) {  // nothing to reduce (an empty list would mean "all axes" to sum)
    detail::strided_copy(x, k.outputs[0]);
    return;
  }
  Tensor out_view = detail::make_view(k.outputs[0], keep, contiguous_strides(keep),
                                      k.outputs[0].storage_offset());
  Attrs attrs;
  attrs.set("axes", axes).set("keepdim", true);
  Tensor outs[1] = {out_view};
  sum({attrs, k.inputs, outs});
}

void concat(const KernelArgs& k) {
  Tensor out = k.outputs[0];
  // Nothing to copy (as the CUDA kernel): also keeps a (2^40, 0) result from looping 2^40 times.
  if (out.numel() == 0) return;
  const int64_t axis = k.attrs.i("axis") < 0 ? k.attrs.i("axis") + out.dim() : k.attrs.i("axis");
  const size_t es = dtype_size(out.dtype());
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out.shape()[d];
  const int64_t out_row = out.numel() / std::max<int64_t>(outer, 1) * es;
  int64_t at = 0;
  for (const Tensor& x : k.inputs) {
    const int64_t row = x.numel() / std::max<int64_t>(outer, 1) * es;
    if (row == 0) continue;  // an empty input adds nothing to any row
    const char* src = static_cast<const char*>(x.data_ptr());
    char* dst = static_cast<char*>(out.data_ptr()) + at;
    for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * out_row, src + o * row, row);
    at += row;
  }
}

void pad(const KernelArgs& k) {
  Tensor out = k.outputs[0];
  out.fill_(k.attrs.f("value"));
  const Tensor& x0 = k.inputs[0];
  if (x0.numel() == 0) return;  // nothing to copy (and no view at an offset past the output)
  const auto& pads = k.attrs.ints("pads");
  const Tensor& x = k.inputs[0];
  Shape st = out.strides();
  int64_t off = 0;
  for (size_t i = 0; i < pads.size() / 2; ++i) off += pads[2 * i] * st[st.size() - 1 - i];
  detail::strided_copy(x, detail::make_view(out, x.shape(), st, off));
}

void cast(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  Tensor& y = k.outputs[0];
  if (x.is_contiguous() && y.is_contiguous() &&
      convert::convert(x.data_ptr(), x.dtype(), y.data_ptr(), y.dtype(), x.numel()))
    return;
  detail::strided_copy(x, y);
}

}  // namespace duet::cpu_kernels

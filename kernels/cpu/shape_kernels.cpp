#include "cpu/shape_kernels.h"

#include <cstring>

#include "core/copy.h"
#include "core/dtype_dispatch.h"
#include "core/tensor_impl.h"

namespace duet::cpu_kernels {

void sum_to(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  Tensor out = k.outputs[0];
  const Shape& xs = x.shape();
  const Shape& os = out.shape();
  const int64_t r = static_cast<int64_t>(xs.size());
  const size_t lead = xs.size() - os.size();
  // Output strides seen from x's index space (0 along summed dimensions).
  Shape ost(r, 0);
  Shape ocont = contiguous_strides(os);
  for (size_t i = lead; i < xs.size(); ++i) ost[i] = os[i - lead] == 1 && xs[i] != 1 ? 0 : ocont[i - lead];
  detail::dispatch_all(x.dtype(), "sum_to", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      throw Error("sum_to: bool tensors cannot be summed");
    } else {
      const T* px = x.data<T>();
      T* po = out.data<T>();
      std::vector<T> acc(out.numel(), T(0));
      const int64_t n = x.numel();
      Shape idx(r, 0);
      int64_t ooff = 0;
      for (int64_t i = 0; i < n; ++i) {
        acc[ooff] += px[i];
        for (int64_t d = r - 1; d >= 0; --d) {
          if (++idx[d] < xs[d]) {
            ooff += ost[d];
            break;
          }
          ooff -= ost[d] * (xs[d] - 1);
          idx[d] = 0;
        }
      }
      std::copy(acc.begin(), acc.end(), po);
    }
  });
}

void concat(const KernelArgs& k) {
  Tensor out = k.outputs[0];
  const int64_t axis = k.attrs.i("axis") < 0 ? k.attrs.i("axis") + out.dim() : k.attrs.i("axis");
  const size_t es = dtype_size(out.dtype());
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out.shape()[d];
  const int64_t out_row = out.numel() / std::max<int64_t>(outer, 1) * es;
  int64_t at = 0;
  for (const Tensor& x : k.inputs) {
    const int64_t row = x.numel() / std::max<int64_t>(outer, 1) * es;
    const char* src = static_cast<const char*>(x.data_ptr());
    char* dst = static_cast<char*>(out.data_ptr()) + at;
    for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * out_row, src + o * row, row);
    at += row;
  }
}

void pad(const KernelArgs& k) {
  Tensor out = k.outputs[0];
  out.fill_(k.attrs.f("value"));
  const auto& pads = k.attrs.ints("pads");
  const Tensor& x = k.inputs[0];
  Shape st = out.strides();
  int64_t off = 0;
  for (size_t i = 0; i < pads.size() / 2; ++i) off += pads[2 * i] * st[st.size() - 1 - i];
  detail::strided_copy(x, detail::make_view(out, x.shape(), st, off));
}

}  // namespace duet::cpu_kernels

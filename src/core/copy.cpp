#include "core/copy.h"

#include <cstring>
#include <limits>
#include <type_traits>

#include "core/device_backend.h"
#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "core/tensor_impl.h"

namespace duet::detail {
namespace {

template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

// One element converted to D. Floating point to integer saturates (NaN -> 0, out of range ->
// the nearest limit): a value outside the integer's range is undefined behaviour in C++, and
// tensors (files, user data) may hold 1e308, inf or NaN. float16 / bfloat16 (duet/half.h)
// convert through float: to them with round to nearest even (a double or an int64 is rounded
// to float first, as PyTorch's c10::Half / c10::BFloat16 constructors do), from them exactly.
template <class D, class S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (is_half_v<S>) {
    return convert<D>(static_cast<float>(v));
  } else if constexpr (is_half_v<D>) {
    return D(static_cast<float>(v));
  } else {
    if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D> &&
                  !std::is_same_v<D, bool>) {
      if (v != v) return D(0);
      if (v <= static_cast<S>(std::numeric_limits<D>::min())) return std::numeric_limits<D>::min();
      if (v >= static_cast<S>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    }
    return static_cast<D>(v);
  }
}

template <class S, class D>
void copy_loop(const S* src, const Shape& sstride, D* dst, const Shape& dstride,
               const Shape& shape) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t n = numel(shape);
  if (n == 0) return;
  if (rank == 0) {
    dst[0] = convert<D>(src[0]);
    return;
  }
  const int64_t inner = shape[rank - 1];
  const int64_t is = sstride[rank - 1];
  const int64_t os = dstride[rank - 1];
  const int64_t outer = n / inner;
  // Rows are independent: parallelise over them when the copy is large.
  parallel::parallel_for_if(n > (1 << 16), 0, outer, [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      int64_t rem = row, soff = 0, doff = 0;
      for (int64_t d = rank - 2; d >= 0; --d) {
        int64_t idx = rem % shape[d];
        rem /= shape[d];
        soff += idx * sstride[d];
        doff += idx * dstride[d];
      }
      const S* s = src + soff;
      D* o = dst + doff;
      if (is == 1 && os == 1) {
        for (int64_t j = 0; j < inner; ++j) o[j] = convert<D>(s[j]);
      } else {
        for (int64_t j = 0; j < inner; ++j) o[j * os] = convert<D>(s[j * is]);
      }
    }
  });
}

// dispatch_all plus the 16-bit floating types: a copy moves every dtype.
template <class F>
void dispatch_copy(DType t, F&& f) {
  switch (t) {
    case DType::float16:
      f(Float16{});
      return;
    case DType::bfloat16:
      f(BFloat16{});
      return;
    default:
      dispatch_all(t, "copy", f);
  }
}

}  // namespace

void strided_copy(const Tensor& src, const Tensor& dst) {
  DUET_ASSERT(src.shape() == dst.shape(), "strided_copy shapes ", shape_str(src.shape()), " vs ",
              shape_str(dst.shape()));
  if (src.device().type != DeviceType::cpu || dst.device().type != DeviceType::cpu)
    return cuda_copy(src, dst);
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    std::memcpy(dst.data_ptr(), src.data_ptr(), src.numel() * dtype_size(src.dtype()));
    return;
  }
  dispatch_copy(src.dtype(), [&](auto stag) {
    using S = decltype(stag);
    dispatch_copy(dst.dtype(), [&](auto dtag) {
      using D = decltype(dtag);
      copy_loop(static_cast<const S*>(src.data_ptr()), src.strides(),
                static_cast<D*>(dst.data_ptr()), dst.strides(), dst.shape());
    });
  });
}

Tensor contiguous_copy(const Tensor& t) {
  Tensor out(make_impl(t.shape(), t.dtype(), t.device()));
  strided_copy(t, out);
  return out;
}

}  // namespace duet::detail

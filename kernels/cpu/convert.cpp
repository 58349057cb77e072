// Bulk conversions to and from bfloat16 / float16 (kernels/cpu/convert.h): the AVX-512 loops
// when the kernels run AVX-512, half.h's scalar conversions otherwise; large calls split over
// the thread pool.
#include "cpu/convert.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/parallel.h"
#include "duet/simd.h"

namespace duet::convert {
namespace {

bool use_avx512() {
  return simd::kernel_isa() == simd::Isa::avx512;
}

// Elements per parallel chunk at least (a chunk is a few microseconds of work).
constexpr int64_t kGrain = int64_t{1} << 14;

template <class F>
void split(int64_t n, const F& fn) {
  if (n > kParallelElements)
    parallel::parallel_for(0, n, kGrain, fn);
  else
    fn(int64_t{0}, n);
}

void f32_to_bf16(const float* s, BFloat16* d, int64_t n) {
  if (use_avx512()) return avx512::float_to_bf16(s, &d->bits, n);
  for (int64_t i = 0; i < n; ++i) d[i] = BFloat16(s[i]);
}
void bf16_to_f32(const BFloat16* s, float* d, int64_t n) {
  if (use_avx512()) return avx512::bf16_to_float(&s->bits, d, n);
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(s[i]);
}
void f32_to_fp16(const float* s, Float16* d, int64_t n) {
  if (use_avx512()) return avx512::float_to_fp16(s, &d->bits, n);
  for (int64_t i = 0; i < n; ++i) d[i] = Float16(s[i]);
}
void fp16_to_f32(const Float16* s, float* d, int64_t n) {
  if (use_avx512()) return avx512::fp16_to_float(&s->bits, d, n);
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(s[i]);
}

// n elements of `t` (float32, bfloat16 or float16) at p, to / from float32.
void to_float(const void* p, DType t, float* out, int64_t n) {
  if (t == DType::bfloat16)
    bf16_to_f32(static_cast<const BFloat16*>(p), out, n);
  else if (t == DType::float16)
    fp16_to_f32(static_cast<const Float16*>(p), out, n);
  else
    std::memcpy(out, p, static_cast<size_t>(n) * sizeof(float));
}
void from_float(const float* in, void* p, DType t, int64_t n) {
  if (t == DType::bfloat16)
    f32_to_bf16(in, static_cast<BFloat16*>(p), n);
  else if (t == DType::float16)
    f32_to_fp16(in, static_cast<Float16*>(p), n);
  else
    std::memcpy(p, in, static_cast<size_t>(n) * sizeof(float));
}

// float64 / int64 / bool -> float32, as half.h's constructors take them.
void wide_to_float(const void* p, DType t, float* out, int64_t n) {
  if (t == DType::float64) {
    const double* s = static_cast<const double*>(p);
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(s[i]);
  } else if (t == DType::int64) {
    const int64_t* s = static_cast<const int64_t*>(p);
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(s[i]);
  } else {
    // Read as bytes: any nonzero byte is true (a bool tensor's memory may hold other bytes,
    // e.g. Tensor::empty's; loading those as bool is undefined).
    const uint8_t* s = static_cast<const uint8_t*>(p);
    for (int64_t i = 0; i < n; ++i) out[i] = s[i] != 0 ? 1.0f : 0.0f;
  }
}
// float32 -> float64 / int64 (truncated, saturated, NaN -> 0) / bool (!= 0).
void float_to_wide(const float* in, void* p, DType t, int64_t n) {
  if (t == DType::float64) {
    double* d = static_cast<double*>(p);
    for (int64_t i = 0; i < n; ++i) d[i] = in[i];
  } else if (t == DType::int64) {
    int64_t* d = static_cast<int64_t*>(p);
    constexpr int64_t lo = std::numeric_limits<int64_t>::min();
    constexpr int64_t hi = std::numeric_limits<int64_t>::max();
    for (int64_t i = 0; i < n; ++i) {
      const float v = in[i];
      d[i] = v != v                        ? 0
             : v <= static_cast<float>(lo) ? lo
             : v >= static_cast<float>(hi) ? hi
                                           : static_cast<int64_t>(v);
    }
  } else {
    bool* d = static_cast<bool*>(p);
    for (int64_t i = 0; i < n; ++i) d[i] = in[i] != 0.0f;
  }
}

bool direct(DType t) {
  return t == DType::float32 || is_low_precision(t);
}

}  // namespace

void float_to_bf16(const float* src, BFloat16* dst, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { f32_to_bf16(src + lo, dst + lo, hi - lo); });
}
void bf16_to_float(const BFloat16* src, float* dst, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { bf16_to_f32(src + lo, dst + lo, hi - lo); });
}
void float_to_fp16(const float* src, Float16* dst, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { f32_to_fp16(src + lo, dst + lo, hi - lo); });
}
void fp16_to_float(const Float16* src, float* dst, int64_t n) {
  split(n, [&](int64_t lo, int64_t hi) { fp16_to_f32(src + lo, dst + lo, hi - lo); });
}

bool convert(const void* src, DType from, void* dst, DType to, int64_t n) {
  if (!is_low_precision(from) && !is_low_precision(to) &&
      !(from == DType::float32 && to == DType::float32))
    return false;
  if (n <= 0) return true;
  if (from == to) {
    std::memcpy(dst, src, static_cast<size_t>(n) * dtype_size(from));
    return true;
  }
  const size_t sfrom = dtype_size(from), sto = dtype_size(to);
  split(n, [&](int64_t lo, int64_t hi) {
    const char* s = static_cast<const char*>(src) + static_cast<size_t>(lo) * sfrom;
    char* d = static_cast<char*>(dst) + static_cast<size_t>(lo) * sto;
    if (from == DType::float32)
      return from_float(reinterpret_cast<const float*>(s), d, to, hi - lo);
    if (to == DType::float32) return to_float(s, from, reinterpret_cast<float*>(d), hi - lo);
    // Through float32, a block at a time on the stack.
    constexpr int64_t kBlock = 1024;
    float buf[kBlock];
    for (int64_t i = 0; i < hi - lo; i += kBlock) {
      const int64_t m = std::min(kBlock, hi - lo - i);
      if (direct(from))
        to_float(s + static_cast<size_t>(i) * sfrom, from, buf, m);
      else
        wide_to_float(s + static_cast<size_t>(i) * sfrom, from, buf, m);
      if (direct(to))
        from_float(buf, d + static_cast<size_t>(i) * sto, to, m);
      else
        float_to_wide(buf, d + static_cast<size_t>(i) * sto, to, m);
    }
  });
  return true;
}

}  // namespace duet::convert

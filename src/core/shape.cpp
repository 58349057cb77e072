#include "duet/shape.h"

#include <algorithm>
#include <limits>
#include <ostream>

#include "duet/error.h"

namespace duet {

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

[[noreturn]] [[gnu::cold]] void bad_shape(const Shape& s, size_t bad, bool negative,
                                          const char* what) {
  if (negative)
    throw Error(detail::cat(what, ": shape ", shape_str(s), " has a negative dimension (", s[bad],
                            " at axis ", bad, "); expected every dimension >= 0"));
  throw Error(detail::cat(what, ": shape ", shape_str(s),
                          " has more elements than fit in int64 (the product of its dimensions "
                          "overflows at axis ",
                          bad, "); expected at most ", kMax, " elements"));
}

// The product of the non-zero dimensions (so every contiguous stride fits too); `zero`: some
// dimension is 0. One pass, no allocation; throws naming `what` for a negative dimension or
// an overflow.
inline int64_t extent(const Shape& s, bool& zero, const char* what) {
  int64_t acc = 1;
  zero = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const int64_t d = s[i];
    if (d <= 0) {
      if (d < 0) bad_shape(s, i, true, what);
      zero = true;
    } else if (__builtin_mul_overflow(acc, d, &acc)) {
      bad_shape(s, i, false, what);
    }
  }
  return acc;
}

}  // namespace

int64_t checked_numel(const Shape& s, const char* what) {
  bool zero = false;
  const int64_t e = extent(s, zero, what);
  return zero ? 0 : e;
}

int64_t checked_nbytes(const Shape& s, size_t itemsize, const char* what) {
  const int64_t n = checked_numel(s, what);
  DUET_CHECK(itemsize > 0, what, ": shape ", shape_str(s),
             " has a dtype of element size 0 (expected a valid dtype)");
  int64_t bytes = 0;
  DUET_CHECK(!__builtin_mul_overflow(n, static_cast<int64_t>(itemsize), &bytes), what, ": shape ",
             shape_str(s), " has ", n, " elements of ", itemsize,
             " bytes, more bytes than fit in int64 (expected at most ", kMax, " bytes)");
  return bytes;
}

int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  DUET_CHECK(!__builtin_mul_overflow(a, b, &r), what, ": ", a, " * ", b,
             " overflows int64 (expected a result within +-", kMax, ")");
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  DUET_CHECK(!__builtin_add_overflow(a, b, &r), what, ": ", a, " + ", b,
             " overflows int64 (expected a result within +-", kMax, ")");
  return r;
}

int64_t numel(const Shape& s) {
  return checked_numel(s, "numel");
}

Shape contiguous_strides(const Shape& s) {
  bool zero = false;
  extent(s, zero, "contiguous_strides");
  Shape st(s.size());
  int64_t acc = 1;  // cannot overflow: the extent fits
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

void check_view_bounds(const Shape& shape, const Shape& strides, int64_t offset,
                       int64_t storage_numel, const char* what) {
  DUET_CHECK(shape.size() == strides.size(), what, ": view of shape ", shape_str(shape),
             " has strides ", shape_str(strides), " (expected one stride per dimension)");
  if (checked_numel(shape, what) == 0) return;  // reaches no element
  // The lowest and highest element the view reaches.
  int64_t lo = offset, hi = offset;
  bool ok = true;
  for (size_t i = 0; i < shape.size() && ok; ++i) {
    int64_t span = 0;
    ok = !__builtin_mul_overflow(shape[i] - 1, strides[i], &span) &&
         !__builtin_add_overflow(span < 0 ? lo : hi, span, span < 0 ? &lo : &hi);
  }
  DUET_CHECK(
      ok && lo >= 0 && (storage_numel < 0 || hi < storage_numel), what, ": a view of shape ",
      shape_str(shape), " with strides ", shape_str(strides), " at offset ", offset,
      ok ? detail::cat(" reaches elements ", lo, " to ", hi)
         : std::string(" reaches elements beyond int64"),
      " but its storage holds ",
      storage_numel < 0 ? std::string("an unknown number of") : std::to_string(storage_numel),
      " elements (expected every reachable element inside the storage)");
}

std::string shape_str(const Shape& s) {
  std::string r = "(";
  const size_t n = s.size();
  for (size_t i = 0; i < n; ++i) {
    if (n > 16 && i == 8) {
      r += ", ... " + std::to_string(n - 12) + " more ...";
      i = n - 5;
      continue;
    }
    if (i) r += ", ";
    r += std::to_string(s[i]);
  }
  if (n == 1) r += ",";
  return r + ")";
}

std::ostream& operator<<(std::ostream& os, const Shape& s) {
  return os << shape_str(s);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    DUET_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
               " cannot be broadcast together (dimension ", i, ": ", da, " vs ", db,
               "; expected equal sizes or one of them 1)");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* op) {
  int64_t r = std::max<int64_t>(rank, 1);
  DUET_CHECK(axis >= -r && axis < r, op, ": axis ", axis, " is out of range for a tensor of rank ",
             rank, " (expected ", -r, " <= axis < ", r, ")");
  return axis < 0 ? axis + r : axis;
}

}  // namespace duet

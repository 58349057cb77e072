// Shapes and strides: vectors of int64, printed as (2, 3, 4).
//
//   duet::Shape s{2, 3, 4};
//   std::cout << s;             // (2, 3, 4)
//   duet::numel(s);             // 24
//   duet::contiguous_strides(s) // {12, 4, 1}
//   duet::broadcast_shapes({2, 1, 4}, {3, 1}, "add")  // (2, 3, 4)
//
// Checked shape arithmetic: every element count, stride and byte size duet computes comes
// from here, so a hostile shape (from a file, an attribute, a fuzzer) is a duet::Error, never
// a wrapped product:
//
//   duet::checked_numel({1 << 40, 1 << 40}, "zeros");  // throws: "zeros: shape (...) has
//                                                      //  more elements than fit in int64"
//   duet::checked_nbytes({1 << 20, 1 << 20}, 4, "zeros")  // 4398046511104
//   duet::checked_mul(kh, kw, "conv2d: kernel area")     // a * b or a duet::Error
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace duet {

// A std::vector<int64_t> (it converts to and from one, and has every vector operation) of
// duet's own type, so that `std::cout << t.shape()` finds operator<< below.
class Shape : public std::vector<int64_t> {
 public:
  using std::vector<int64_t>::vector;
  Shape() = default;
  Shape(const std::vector<int64_t>& v) : std::vector<int64_t>(v) {}             // NOLINT
  Shape(std::vector<int64_t>&& v) noexcept : std::vector<int64_t>(std::move(v)) {}  // NOLINT
};

// A valid shape has dimensions >= 0 whose product, zero dimensions skipped (so its contiguous
// strides as well), fits in int64. numel() and contiguous_strides() throw duet::Error
// ("numel: ...") for an invalid shape; the checked_* forms below name the caller instead.
int64_t numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
// "(2, 3, 4)"; a shape of more than 16 dimensions prints its first 8 and last 4 (errors about
// hostile shapes stay short).
std::string shape_str(const Shape& s);
// Prints shape_str(s).
std::ostream& operator<<(std::ostream& os, const Shape& s);

// The element count of `s`, or duet::Error naming `what` (the op or the caller) and the shape
// when a dimension is negative or the product of the non-zero dimensions overflows int64.
// No allocation unless it throws.
int64_t checked_numel(const Shape& s, const char* what);
// numel * itemsize, checked the same way (the byte size must fit in int64 too).
int64_t checked_nbytes(const Shape& s, size_t itemsize, const char* what);
// a * b and a + b, or duet::Error "<what>: <a> * <b> overflows int64".
int64_t checked_mul(int64_t a, int64_t b, const char* what);
int64_t checked_add(int64_t a, int64_t b, const char* what);
// Throws duet::Error naming `what` unless a view of `shape`/`strides` at element `offset`
// reaches only elements in [0, storage_numel) (storage_numel < 0: unknown, only the
// arithmetic and offset >= 0 are checked). An empty view reaches nothing.
void check_view_bounds(const Shape& shape, const Shape& strides, int64_t offset,
                       int64_t storage_numel, const char* what);
// Numpy broadcasting; throws duet::Error naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Normalises a possibly negative axis against rank; throws naming `op` when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* op);

}  // namespace duet

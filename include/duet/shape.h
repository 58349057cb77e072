// Shapes and strides: plain vectors of int64, printed as (2, 3, 4).
//
//   duet::Shape s{2, 3, 4};
//   duet::numel(s);             // 24
//   duet::contiguous_strides(s) // {12, 4, 1}
//   duet::broadcast_shapes({2, 1, 4}, {3, 1}, "add")  // (2, 3, 4)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace duet {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s);
// Numpy broadcasting; throws duet::Error naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Normalises a possibly negative axis against rank; throws naming `op` when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* op);

}  // namespace duet

// Int2: a pair of int64 for per-axis (height, width) options, PyTorch style: one value means
// both axes.
//
//   duet::Int2 a = 3;         // (3, 3)
//   duet::Int2 b = {1, 2};    // (1, 2)
//   duet::Conv2dOptions o{.stride = 2, .padding = 1};   // stride (2, 2), padding (1, 1)
//   std::cout << b;           // (1, 2)
//
// It is a std::array<int64_t, 2> (indexing, ==, iteration), so code written against the
// array keeps working.
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace duet {

struct Int2 : std::array<int64_t, 2> {
  constexpr Int2() : std::array<int64_t, 2>{0, 0} {}
  constexpr Int2(int64_t both) : std::array<int64_t, 2>{both, both} {}            // NOLINT
  constexpr Int2(int64_t h, int64_t w) : std::array<int64_t, 2>{h, w} {}          // NOLINT
  constexpr Int2(const std::array<int64_t, 2>& a) : std::array<int64_t, 2>(a) {}  // NOLINT
  // "(1, 2)"
  std::string str() const;
};

std::ostream& operator<<(std::ostream& os, const Int2& v);

}  // namespace duet

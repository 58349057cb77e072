// Small helpers for modules' extra_repr strings (PyTorch's spelling: True/False, (a, b)).
#pragma once

#include <array>
#include <cstdint>
#include <sstream>
#include <string>

namespace duet::nn::detail {

inline const char* py_bool(bool b) {
  return b ? "True" : "False";
}

inline std::string pair_str(const std::array<int64_t, 2>& a) {  // also Int2
  std::ostringstream os;
  os << "(" << a[0] << ", " << a[1] << ")";
  return os.str();
}

inline std::string num_str(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace duet::nn::detail

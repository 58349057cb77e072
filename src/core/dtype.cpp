#include "duet/dtype.h"

#include <algorithm>
#include <cctype>

#include "duet/error.h"

namespace duet {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::float32:
      return 4;
    case DType::float64:
      return 8;
    case DType::int64:
      return 8;
    case DType::bool_:
      return 1;
    case DType::float16:
      return 2;
    case DType::bfloat16:
      return 2;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
    case DType::int64:
      return "int64";
    case DType::bool_:
      return "bool";
    case DType::float16:
      return "float16";
    case DType::bfloat16:
      return "bfloat16";
  }
  return "?";
}

bool is_floating(DType t) {
  return t == DType::float32 || t == DType::float64 || t == DType::float16 || t == DType::bfloat16;
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  // Rank: bool < int64 < float16 / bfloat16 < float32 < float64.
  auto rank = [](DType t) {
    switch (t) {
      case DType::bool_:
        return 0;
      case DType::int64:
        return 1;
      case DType::float16:
      case DType::bfloat16:
        return 2;
      case DType::float32:
        return 3;
      case DType::float64:
        return 4;
    }
    return 0;
  };
  if (rank(a) == 2 && rank(b) == 2) return DType::float32;  // float16 with bfloat16
  return rank(a) >= rank(b) ? a : b;
}

DType parse_dtype(const std::string& name) {
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  struct Alias {
    const char* name;
    DType dtype;
  };
  static constexpr Alias kAliases[] = {
      {"float32", DType::float32}, {"fp32", DType::float32},      {"f32", DType::float32},
      {"float", DType::float32},   {"float64", DType::float64},   {"fp64", DType::float64},
      {"f64", DType::float64},     {"double", DType::float64},    {"int64", DType::int64},
      {"i64", DType::int64},       {"long", DType::int64},        {"bool", DType::bool_},
      {"float16", DType::float16}, {"fp16", DType::float16},      {"f16", DType::float16},
      {"half", DType::float16},    {"bfloat16", DType::bfloat16}, {"bf16", DType::bfloat16}};
  for (const Alias& a : kAliases)
    if (s == a.name) return a.dtype;
  throw Error(
      detail::cat("parse_dtype: unknown dtype ", detail::quoted_excerpt(name),
                  " (expected float32/fp32, float64/fp64, int64, bool, float16/fp16/half or "
                  "bfloat16/bf16)"));
}

std::ostream& operator<<(std::ostream& os, DType t) {
  return os << dtype_name(t);
}

std::string Device::str() const {
  return type == DeviceType::cpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}
std::ostream& operator<<(std::ostream& os, Device d) {
  return os << d.str();
}

}  // namespace duet

// Element types and devices.
//
//   duet::DType t = duet::float32;
//   duet::dtype_size(t);                                // 4
//   duet::promote_types(duet::bfloat16, duet::float32);  // float32
//   duet::parse_dtype("bf16");                          // bfloat16 (command-line flags)
//   duet::Device d = duet::cpu;
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "duet/half.h"

namespace duet {

// float16 and bfloat16 are storage dtypes like the others (C++ types Float16 and BFloat16,
// duet/half.h); docs/mixed_precision.md says which ops run them natively.
enum class DType : uint8_t { float32, float64, int64, bool_, float16, bfloat16 };

inline constexpr DType float32 = DType::float32;
inline constexpr DType float64 = DType::float64;
inline constexpr DType int64 = DType::int64;
inline constexpr DType bool_ = DType::bool_;
inline constexpr DType float16 = DType::float16;
inline constexpr DType bfloat16 = DType::bfloat16;

size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool is_floating(DType t);
// float16 or bfloat16.
inline bool is_low_precision(DType t) {
  return t == DType::float16 || t == DType::bfloat16;
}
// The dtype two tensors of dtypes a and b combine to in a binary op, PyTorch's rules
// (torch.promote_types): bool < int64 < floating; among floating types the wider wins, and
// float16 with bfloat16 gives float32 (neither holds the other). docs/mixed_precision.md.
DType promote_types(DType a, DType b);
// A dtype from its name, case-insensitive: dtype_name's ("float32", "bfloat16", "bool") and
// the usual aliases: fp32/f32/float, fp64/f64/double, i64/long, fp16/f16/half, bf16. Anything
// else throws duet::Error listing the accepted names.
DType parse_dtype(const std::string& name);
std::ostream& operator<<(std::ostream& os, DType t);

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::float64;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::int64;
}
template <>
constexpr DType dtype_of<bool>() {
  return DType::bool_;
}
template <>
constexpr DType dtype_of<Float16>() {
  return DType::float16;
}
template <>
constexpr DType dtype_of<BFloat16>() {
  return DType::bfloat16;
}

enum class DeviceType : uint8_t { cpu = 0, cuda = 1 };
inline constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  bool operator==(const Device&) const = default;
  std::string str() const;
};
inline constexpr Device cpu{DeviceType::cpu, 0};
std::ostream& operator<<(std::ostream& os, Device d);

}  // namespace duet

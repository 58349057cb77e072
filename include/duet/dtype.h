// Element types and devices.
//
//   duet::DType t = duet::float32;
//   duet::dtype_size(t);  // 4
//   duet::Device d = duet::cpu;
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace duet {

// float16/bfloat16 have reserved slots so kernels and files can add them later.
enum class DType : uint8_t { float32, float64, int64, bool_, float16, bfloat16 };

inline constexpr DType float32 = DType::float32;
inline constexpr DType float64 = DType::float64;
inline constexpr DType int64 = DType::int64;
inline constexpr DType bool_ = DType::bool_;

size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool is_floating(DType t);
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

// Helpers for the safetensors tests: a per-test temp dir and hand-written files.
//
//   TempDir dir;                                          // removed at the end of the test
//   std::string p = dir.file("a.safetensors");
//   write_safetensors_bytes(p, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
//                           f32_bytes({1.5f}));           // length + padded header + data
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace duet::test {

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("duet_io_") + std::to_string(::getpid()) + "_" +
                       (info ? std::string(info->test_suite_name()) + "_" + info->name() : "x");
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  std::string s(v.size() * sizeof(T), '\0');
  if (!v.empty()) std::memcpy(s.data(), v.data(), s.size());
  return s;  // little-endian hosts (x86, arm64)
}
inline std::string f32_bytes(const std::vector<float>& v) {
  return raw_bytes(v);
}

// What Python's safetensors writes: u64 header length, the header padded with spaces to a
// multiple of 8 bytes, the data buffer.
inline std::string safetensors_bytes(std::string header, const std::string& data, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  return u64_le(header.size()) + header + data;
}

inline void write_safetensors_bytes(const std::string& path, const std::string& header,
                                    const std::string& data) {
  write_file(path, safetensors_bytes(header, data));
}

}  // namespace duet::test

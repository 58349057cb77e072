// Test helpers: reads an event file back (TFRecord framing with CRC checks) and decodes
// protobuf messages generically (field number -> values), independently of the encoder.
//
//   auto records = read_records(path);          // throws on a bad CRC or a truncated record
//   Fields event = decode(records[1]);
//   event.f64(1);                                // wall_time
//   Fields value = decode(decode(event.bytes(5)).bytes(1));   // summary.value[0]
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensorboard/crc32c.h"

namespace duet::test::tb {

struct Fields {
  // field number -> raw values: varints as uint64, fixed64/fixed32 as their bits, bytes as is
  std::map<int, std::vector<uint64_t>> ints;
  std::map<int, std::vector<std::string>> blobs;
  bool has(int f) const { return ints.count(f) || blobs.count(f); }
  uint64_t u(int f, size_t i = 0) const { return ints.at(f).at(i); }
  int64_t i64(int f) const { return static_cast<int64_t>(u(f)); }
  double f64(int f) const { return std::bit_cast<double>(u(f)); }
  float f32(int f) const { return std::bit_cast<float>(static_cast<uint32_t>(u(f))); }
  const std::string& bytes(int f, size_t i = 0) const { return blobs.at(f).at(i); }
  size_t count(int f) const {
    return (ints.count(f) ? ints.at(f).size() : 0) + (blobs.count(f) ? blobs.at(f).size() : 0);
  }
};

inline uint64_t read_varint(const std::string& s, size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= s.size()) throw std::runtime_error("truncated varint");
    uint8_t b = static_cast<uint8_t>(s[pos++]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::runtime_error("varint longer than 10 bytes");
}

inline uint64_t read_le(const std::string& s, size_t pos, int n) {
  if (pos + static_cast<size_t>(n) > s.size()) throw std::runtime_error("truncated fixed field");
  uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(s[pos + i])) << (8 * i);
  return v;
}

inline Fields decode(const std::string& msg) {
  Fields f;
  size_t pos = 0;
  while (pos < msg.size()) {
    uint64_t key = read_varint(msg, pos);
    int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    switch (wire) {
      case 0:
        f.ints[field].push_back(read_varint(msg, pos));
        break;
      case 1:
        f.ints[field].push_back(read_le(msg, pos, 8));
        pos += 8;
        break;
      case 5:
        f.ints[field].push_back(read_le(msg, pos, 4));
        pos += 4;
        break;
      case 2: {
        uint64_t n = read_varint(msg, pos);
        if (n > msg.size() - pos) throw std::runtime_error("truncated length-delimited field");
        f.blobs[field].push_back(msg.substr(pos, n));
        pos += n;
        break;
      }
      default:
        throw std::runtime_error("wire type " + std::to_string(wire));
    }
  }
  return f;
}

inline std::vector<double> packed_doubles(const std::string& s) {
  std::vector<double> v(s.size() / 8);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::bit_cast<double>(read_le(s, 8 * i, 8));
  return v;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every record of a TFRecord file; throws std::runtime_error on a CRC mismatch or truncation.
inline std::vector<std::string> parse_records(const std::string& file) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < file.size()) {
    if (file.size() - pos < 12) throw std::runtime_error("truncated header");
    uint64_t len = read_le(file, pos, 8);
    uint32_t len_crc = static_cast<uint32_t>(read_le(file, pos + 8, 4));
    if (len_crc != tensorboard::detail::masked_crc32c(file.data() + pos, 8))
      throw std::runtime_error("bad length crc");
    pos += 12;
    if (len > file.size() - pos || file.size() - pos - len < 4)
      throw std::runtime_error("truncated record");
    std::string data = file.substr(pos, len);
    uint32_t data_crc = static_cast<uint32_t>(read_le(file, pos + len, 4));
    if (data_crc != tensorboard::detail::masked_crc32c(data.data(), data.size()))
      throw std::runtime_error("bad data crc");
    out.push_back(std::move(data));
    pos += len + 4;
  }
  return out;
}

inline std::vector<std::string> read_records(const std::string& path) {
  return parse_records(read_file(path));
}

// The only event file in `dir`.
inline std::string event_file_in(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0)
      found.push_back(e.path().string());
  if (found.size() != 1)
    throw std::runtime_error(dir + ": " + std::to_string(found.size()) + " event files");
  return found[0];
}

// One summary value of an event: {step, value fields}.
struct SummaryValue {
  int64_t step = 0;
  std::string tag;
  Fields value;
};

// The summary values of every event after the file_version one.
inline std::vector<SummaryValue> summary_values(const std::string& path) {
  std::vector<SummaryValue> out;
  auto records = read_records(path);
  for (size_t r = 1; r < records.size(); ++r) {
    Fields e = decode(records[r]);
    if (!e.has(5)) continue;
    Fields summary = decode(e.bytes(5));
    for (size_t k = 0; k < summary.count(1); ++k) {
      SummaryValue sv;
      sv.step = e.has(2) ? e.i64(2) : 0;
      sv.value = decode(summary.bytes(1, k));
      sv.tag = sv.value.bytes(1);
      out.push_back(std::move(sv));
    }
  }
  return out;
}

// A fresh empty directory under the test temp dir.
inline std::string fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("duet_tb_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

}  // namespace duet::test::tb

// IDX file bytes for the IDX tests: the magic 0x0000TTRR, big-endian sizes, the payload.
//
//   std::string f = duet::test::idx_bytes(0x08, {2, 3}, payload);  // (2, 3) ubyte
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace duet::test {

inline void put_be32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xFF));
}

inline std::string idx_bytes(int type, const std::vector<uint32_t>& dims,
                             const std::string& payload) {
  std::string s;
  put_be32(s, (static_cast<uint32_t>(type) << 8) | static_cast<uint32_t>(dims.size()));
  for (uint32_t d : dims) put_be32(s, d);
  return s + payload;
}

}  // namespace duet::test

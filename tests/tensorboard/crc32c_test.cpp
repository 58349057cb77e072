// CRC-32C against its standard check value and RFC 3720's test vectors, and TensorFlow's mask.
#include "tensorboard/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace duet::tensorboard::detail {
namespace {

TEST(Crc32c, StandardCheckValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  EXPECT_EQ(crc32c("a", 1), 0xC1D04330u);
}

TEST(Crc32c, Rfc3720Vectors) {  // iSCSI (RFC 3720, B.4), the same vectors TensorFlow tests
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xFF), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<uint8_t>(i);
    down[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(crc32c(up.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32c(down.data(), 32), 0x113FDB5Cu);
}

TEST(Crc32c, ContinuesAcrossChunksAndAlignments) {
  std::string s;
  for (int i = 0; i < 1000; ++i) s.push_back(static_cast<char>((i * 131 + 7) & 0xFF));
  const uint32_t whole = crc32c(s.data(), s.size());
  for (size_t split : {0, 1, 3, 7, 8, 9, 500, 999, 1000}) {
    uint32_t part = crc32c(s.data(), split);
    EXPECT_EQ(crc32c(s.data() + split, s.size() - split, part), whole) << "split " << split;
  }
  // Bytewise reference (no slicing tables).
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  EXPECT_EQ(whole, ~c);
}

TEST(Crc32c, TensorFlowMask) {
  // masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (tensorflow/core/lib/hash/crc32c.h)
  EXPECT_EQ(mask_crc(0), 0xA282EAD8u);
  EXPECT_EQ(mask_crc(0xE3069283u), ((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xA282EAD8u);
  EXPECT_EQ(masked_crc32c("123456789", 9), mask_crc(0xE3069283u));
}

}  // namespace
}  // namespace duet::tensorboard::detail

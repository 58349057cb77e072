// CRC-32C (Castagnoli), the checksum of TFRecord framing, and TensorFlow's "masked" form.
//
//   crc32c("123456789", 9) == 0xE3069283            // the standard check value
//   masked_crc32c(data, n)                           // what a TFRecord stores
#pragma once

#include <cstddef>
#include <cstdint>

namespace duet::tensorboard::detail {

// CRC-32C of n bytes (reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF).
// `crc` continues a previous result: crc32c(b, nb, crc32c(a, na)) == crc32c(a + b).
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
// TensorFlow's mask: ((crc >> 15) | (crc << 17)) + 0xA282EAD8, so that a CRC stored inside the
// data it covers does not checksum to a constant.
uint32_t mask_crc(uint32_t crc);
inline uint32_t masked_crc32c(const void* data, size_t n) {
  return mask_crc(crc32c(data, n));
}

}  // namespace duet::tensorboard::detail

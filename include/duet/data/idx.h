// IDX files (the MNIST format), raw or gzip-compressed.
//
//   auto labels = duet::data::read_idx("train-labels-idx1-ubyte.gz");   // (60000) int64
//   auto images = duet::data::read_idx("train-images-idx3-ubyte.gz",
//                                      {.dtype = duet::float32, .scale = 1.0 / 255});
//   // images: (60000, 28, 28) float32 in [0, 1]
//
// Format: a big-endian magic 0x0000TTRR (TT the element type: 0x08 uint8, 0x09 int8,
// 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64; RR the rank), RR big-endian uint32
// sizes, then the elements in row-major order (big-endian).
//
// Gzip: a file starting with 1f 8b is inflated in bounded chunks (memory grows only as data
// arrives, never to the header's claim up front); its CRC-32 and length trailer are verified;
// concatenated gzip members are read as one stream (RFC 1952); any other byte after the last
// member is an error. Raw: the header's claim is checked against the file size before
// anything is allocated. Both: at most 64 dims; the byte count (and the strides: a zero dim
// does not excuse the others) must fit in int64; the data must end the file (trailing bytes
// are an error). Any path open(2) accepts works (/proc/self/fd/N of a memfd included).
#pragma once

#include <cstdint>
#include <string>

#include "duet/tensor.h"

namespace duet::data {

struct IdxOptions {
  DType dtype = int64;  // int64 (integer files only) or float32/float64
  double scale = 1.0;   // floating results: value = raw * scale + shift
  double shift = 0.0;
  int64_t expected_rank = -1;  // >= 0: the magic must announce this rank
};

// Throws duet::Error naming the path for a missing file, a bad magic number (printed with the
// expected one), a truncated file (bytes expected vs got), a shape too large, trailing bytes,
// or corrupt gzip data (a bad CRC or length trailer included).
Tensor read_idx(const std::string& path, const IdxOptions& options = {});

}  // namespace duet::data

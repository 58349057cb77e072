// TFRecord framing, the container of TensorFlow event files:
//   uint64 length (little endian) | uint32 masked_crc32c(length bytes) | data |
//   uint32 masked_crc32c(data)
#pragma once

#include <string>
#include <string_view>

namespace duet::tensorboard::detail {

// The framed record of `data` (16 + data.size() bytes).
std::string frame_record(std::string_view data);

}  // namespace duet::tensorboard::detail

#include "tensorboard/record.h"

#include "tensorboard/crc32c.h"
#include "tensorboard/proto_writer.h"

namespace duet::tensorboard::detail {

std::string frame_record(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  append_fixed64(out, data.size());
  append_fixed32(out, masked_crc32c(out.data(), 8));
  out.append(data.data(), data.size());
  append_fixed32(out, masked_crc32c(data.data(), data.size()));
  return out;
}

}  // namespace duet::tensorboard::detail

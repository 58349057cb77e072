#include "tensorboard/proto_writer.h"

#include <bit>
#include <utility>

#include "duet/error.h"

namespace duet::tensorboard::detail {

void append_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void append_fixed32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void append_fixed64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void ProtoWriter::tag(int field, int wire_type) {
  DUET_ASSERT(field >= 1 && field < (1 << 29), "protobuf field number ", field);
  append_varint(out_, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}

void ProtoWriter::varint_field(int field, int64_t v) {
  tag(field, 0);
  append_varint(out_, static_cast<uint64_t>(v));
}

void ProtoWriter::double_field(int field, double v) {
  tag(field, 1);
  append_fixed64(out_, std::bit_cast<uint64_t>(v));
}

void ProtoWriter::float_field(int field, float v) {
  tag(field, 5);
  append_fixed32(out_, std::bit_cast<uint32_t>(v));
}

void ProtoWriter::bytes_field(int field, std::string_view bytes) {
  tag(field, 2);
  append_varint(out_, bytes.size());
  out_.append(bytes.data(), bytes.size());
}

void ProtoWriter::packed_doubles_field(int field, const std::vector<double>& v) {
  tag(field, 2);
  append_varint(out_, v.size() * 8);
  for (double d : v) append_fixed64(out_, std::bit_cast<uint64_t>(d));
}

}  // namespace duet::tensorboard::detail

// A protobuf wire-format encoder for the few messages an event file holds (Event, Summary,
// HistogramProto, TensorProto, GraphDef): fields are appended in the order written.
//
//   ProtoWriter summary_value;
//   summary_value.string_field(1, "loss/train");   // tag
//   summary_value.float_field(2, 0.31f);           // simple_value
//   ProtoWriter summary;
//   summary.message_field(1, summary_value);       // repeated Value value = 1
//   summary.bytes();                               // the encoded message
//
// Wire types: 0 varint (int32/int64/bool/enum), 1 fixed64 (double), 2 length-delimited
// (string, bytes, messages, packed repeated), 5 fixed32 (float). Every field is written even
// when it holds its default value unless the caller skips it (proto3 readers accept both).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace duet::tensorboard::detail {

// Appends v as a base-128 varint (7 bits per byte, low group first, high bit = more).
void append_varint(std::string& out, uint64_t v);
// Little-endian fixed-width encodings.
void append_fixed32(std::string& out, uint32_t v);
void append_fixed64(std::string& out, uint64_t v);

class ProtoWriter {
 public:
  // int32/int64/enum: negative values are 10-byte two's complement varints, as protobuf does.
  void varint_field(int field, int64_t v);
  void bool_field(int field, bool v) { varint_field(field, v ? 1 : 0); }
  void double_field(int field, double v);
  void float_field(int field, float v);
  void bytes_field(int field, std::string_view bytes);
  void string_field(int field, std::string_view s) { bytes_field(field, s); }
  void message_field(int field, const ProtoWriter& m) { bytes_field(field, m.bytes()); }
  // repeated double, [packed = true]
  void packed_doubles_field(int field, const std::vector<double>& v);

  const std::string& bytes() const { return out_; }
  std::string release() { return std::move(out_); }

 private:
  void tag(int field, int wire_type);
  std::string out_;
};

}  // namespace duet::tensorboard::detail

// The protobuf encoder against the wire format's documented examples, and TFRecord framing.
#include "tensorboard/proto_writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "event_reader.h"
#include "tensorboard/crc32c.h"
#include "tensorboard/record.h"

namespace duet::tensorboard::detail {
namespace {

std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out += ' ';
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

std::string varint(uint64_t v) {
  std::string s;
  append_varint(s, v);
  return s;
}

TEST(ProtoWriter, Varints) {
  EXPECT_EQ(hex(varint(0)), "00");
  EXPECT_EQ(hex(varint(1)), "01");
  EXPECT_EQ(hex(varint(127)), "7f");
  EXPECT_EQ(hex(varint(128)), "80 01");
  EXPECT_EQ(hex(varint(150)), "96 01");
  EXPECT_EQ(hex(varint(300)), "ac 02");
  EXPECT_EQ(hex(varint(16384)), "80 80 01");
  EXPECT_EQ(hex(varint(std::numeric_limits<uint64_t>::max())), "ff ff ff ff ff ff ff ff ff 01");
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 1ull << 35, (1ull << 63) + 5}) {
    std::string s = varint(v);
    size_t pos = 0;
    EXPECT_EQ(duet::test::tb::read_varint(s, pos), v);
    EXPECT_EQ(pos, s.size());
  }
}

TEST(ProtoWriter, FieldsAsTheProtobufDocsEncodeThem) {
  ProtoWriter a;  // message Test1 { int32 a = 1; } with a = 150
  a.varint_field(1, 150);
  EXPECT_EQ(hex(a.bytes()), "08 96 01");
  ProtoWriter b;  // message Test2 { string b = 2; } with b = "testing"
  b.string_field(2, "testing");
  EXPECT_EQ(hex(b.bytes()), "12 07 74 65 73 74 69 6e 67");
  ProtoWriter c;  // message Test3 { Test1 c = 3; }
  c.message_field(3, a);
  EXPECT_EQ(hex(c.bytes()), "1a 03 08 96 01");
  ProtoWriter n;  // int64 -1: ten bytes of two's complement
  n.varint_field(2, -1);
  EXPECT_EQ(hex(n.bytes()), "10 ff ff ff ff ff ff ff ff ff 01");
  ProtoWriter d;  // double 1.0 = 0x3FF0000000000000, float 1.0 = 0x3F800000
  d.double_field(1, 1.0);
  d.float_field(2, 1.0f);
  EXPECT_EQ(hex(d.bytes()), "09 00 00 00 00 00 00 f0 3f 15 00 00 80 3f");
  ProtoWriter p;  // repeated double [packed]: one length-delimited field
  p.packed_doubles_field(6, {1.0, -2.0});
  EXPECT_EQ(hex(p.bytes()), "32 10 00 00 00 00 00 00 f0 3f 00 00 00 00 00 00 00 c0");
  ProtoWriter big;  // field numbers >= 16 take two key bytes
  big.bool_field(16, true);
  EXPECT_EQ(hex(big.bytes()), "80 01 01");
}

TEST(TfRecord, Framing) {
  std::string data = "hello event";
  std::string r = frame_record(data);
  ASSERT_EQ(r.size(), data.size() + 16);
  // uint64 little-endian length
  EXPECT_EQ(hex(r.substr(0, 8)), "0b 00 00 00 00 00 00 00");
  uint32_t len_crc = static_cast<uint32_t>(duet::test::tb::read_le(r, 8, 4));
  EXPECT_EQ(len_crc, masked_crc32c(r.data(), 8));
  EXPECT_EQ(r.substr(12, data.size()), data);
  uint32_t data_crc = static_cast<uint32_t>(duet::test::tb::read_le(r, 12 + data.size(), 4));
  EXPECT_EQ(data_crc, masked_crc32c(data.data(), data.size()));
  // Two records back to back parse back; a flipped bit is caught.
  std::string two = frame_record("a") + frame_record("");
  auto recs = duet::test::tb::parse_records(two);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0], "a");
  EXPECT_EQ(recs[1], "");
  two[12] ^= 1;
  EXPECT_THROW(duet::test::tb::parse_records(two), std::runtime_error);
}

TEST(TfRecord, EmptyRecordBytes) {
  // The empty record: length 0, mask(crc(8 zero bytes)), mask(crc("")) = mask(0).
  std::string r = frame_record("");
  std::string zeros(8, '\0');
  EXPECT_EQ(static_cast<uint32_t>(duet::test::tb::read_le(r, 8, 4)),
            mask_crc(crc32c(zeros.data(), 8)));
  EXPECT_EQ(static_cast<uint32_t>(duet::test::tb::read_le(r, 12, 4)), 0xA282EAD8u);
}

}  // namespace
}  // namespace duet::tensorboard::detail

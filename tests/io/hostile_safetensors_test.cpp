// safetensors files made by an attacker (issue #19): deep JSON nesting in every place, garbage
// after the JSON, size fields that wrap, huge values in error messages, truncation at every
// byte, trailing data. Each ends in a duet::Error naming the file and the problem, with a
// message under 2,000 characters, in a child process whose memory may grow by 256 MiB at most
// (tests/hostile_util.h).
#include <sys/mman.h>

#include "duet/io.h"
#include "hostile_util.h"
#include "io_test_util.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

class Hostile : public ::testing::Test {
 protected:
  TempDir dir;
  std::string path = dir.file("evil.safetensors");
  // Writes length + header (padded with spaces) + data.
  void put(const std::string& header, const std::string& data = "") {
    write_safetensors_bytes(path, header, data);
  }
};

#define EXPECT_BOTH_HOSTILE(...)                                                                \
  do {                                                                                          \
    EXPECT_HOSTILE_ERROR(io::load_safetensors(path), "load_safetensors", "evil.safetensors",    \
                         __VA_ARGS__);                                                          \
    EXPECT_HOSTILE_ERROR(io::load_safetensors_metadata(path), "evil.safetensors", __VA_ARGS__); \
  } while (0)

std::string nest(char open, size_t depth) {
  const char close = open == '[' ? ']' : '}';
  std::string s;
  s.reserve(2 * depth + 16);
  for (size_t i = 0; i < depth; ++i) s += open == '[' ? "[" : "{\"a\":";
  s += "1";
  s.append(depth, close);
  return s;
}

const std::string kEntry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
const std::string k8 = f32_bytes({1.f, 2.f});

// ---- 1. nesting: every place a value can go --------------------------------------------------

TEST_F(Hostile, DeepArrayAsTensorEntry) {  // the reported case: ~200 KB, 100,000 levels
  put(R"({"w": )" + nest('[', 100000) + "}");
  EXPECT_BOTH_HOSTILE("the JSON nests more than 3 levels deep", "safetensors header needs 3");
}

TEST_F(Hostile, DeepNestingInEveryPlace) {
  const std::string deep_a = nest('[', 100000), deep_o = nest('{', 100000);
  for (const std::string& deep : {deep_a, deep_o}) {
    for (const std::string& header : {
             R"({"__metadata__": )" + deep + "}",         // metadata itself
             R"({"__metadata__": {"k": )" + deep + "}}",  // a metadata value
             R"({"w": {"dtype": )" + deep + R"(, "shape": [2], "data_offsets": [0, 8]}})",
             R"({"w": {"dtype": "F32", "shape": )" + deep + R"(, "data_offsets": [0, 8]}})",
             R"({"w": {"dtype": "F32", "shape": [2, )" + deep + R"(], "data_offsets": [0, 8]}})",
             R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": )" + deep + "}}",
             R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": )" + deep + "}}",
             deep,                                              // the top level itself
             "1 " + deep,                                       // after a top-level scalar
             "\xEF\xBB\xBF" + deep,                             // after a byte order mark
             R"({"w": )" + kEntry + R"(, "v": )" + deep + "}",  // after a good entry
         }) {
      put(header, k8);
      EXPECT_BOTH_HOSTILE("nests more than 3 levels");
    }
  }
}

TEST_F(Hostile, FourLevelsAreRejectedThreeAreRead) {
  put(R"({"w": {"dtype": "F32", "shape": [[2]], "data_offsets": [0, 8]}})", k8);
  EXPECT_BOTH_HOSTILE("nests more than 3 levels deep at byte");
  put(R"({"__metadata__": {"k": ["v"]}})");
  EXPECT_BOTH_HOSTILE("__metadata__ key 'k' holds [\"v\"]", "expected a string");
  put(R"({"w": )" + kEntry + "}", k8);
  EXPECT_EQ(io::load_safetensors(path).size(), 1u);
}

TEST_F(Hostile, BracketsAndEscapesInsideStringsDoNotCount) {
  // Keys and metadata strings full of brackets, escaped quotes and backslashes are fine.
  const std::string key = R"(w[[[{{{\"]]]\\)";  // JSON text of the key w[[[{{{"]]]\ .
  put(R"({"__metadata__": {"note": "[[[[{{{{\"\\\\\"[[[[", "k\"[[": "\\"}, ")" + key + R"(": )" +
          kEntry + "}",
      k8);
  nn::StateDict sd = io::load_safetensors(path);
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].first, "w[[[{{{\"]]]\\");
  auto meta = io::load_safetensors_metadata(path);
  EXPECT_EQ(meta.at("note"), "[[[[{{{{\"\\\\\"[[[[");
  // An escaped quote must not end the string early: the [ after it is inside the string.
  put(R"({"__metadata__": {"a": "\"[[[[[[[["}})");
  EXPECT_NO_THROW(io::load_safetensors_metadata(path));
}

// ---- 6. what follows the JSON ---------------------------------------------------------------

TEST_F(Hostile, OnlySpacesMayFollowTheJson) {
  const std::string good = R"({"w": )" + kEntry + "}";
  for (const std::string& tail :
       {std::string("\0garbage", 8), std::string("\0", 1), std::string("\t"), std::string("\n"),
        std::string("  x"), std::string("{}"), std::string("  \0  ", 5)}) {
    write_file(path, safetensors_bytes(good + tail, k8, /*pad=*/false));
    EXPECT_BOTH_HOSTILE("after its JSON value", "only spaces may pad the header");
  }
  write_file(path, safetensors_bytes(good + "       ", k8, /*pad=*/false));
  EXPECT_EQ(io::load_safetensors(path).size(), 1u);
}

TEST_F(Hostile, ByteOrderMarkIsRejected) {  // nlohmann would skip it
  put("\xEF\xBB\xBF" + std::string(R"({"w": )") + kEntry + "}", k8);
  EXPECT_BOTH_HOSTILE("byte order mark");
}

TEST_F(Hostile, NulInsideTheJsonIsInvalid) {
  put(std::string(R"({"w": {"dtype": "F32",)") + std::string("\0", 1) + R"( "shape": [2]}})");
  EXPECT_BOTH_HOSTILE("not valid JSON");
}

// ---- 6. size fields ------------------------------------------------------------------------

TEST_F(Hostile, ZeroDimDoesNotExcuseTheOthers) {
  for (const char* shape : {"[0, 4611686018427387904, 4]", "[4611686018427387904, 4, 0]",
                            "[0, 4294967296, 4294967296]", "[0, 9223372036854775807, 2]"}) {
    put(R"({"w": {"dtype": "F32", "shape": )" + std::string(shape) +
        R"(, "data_offsets": [0, 0]}})");
    EXPECT_BOTH_HOSTILE("key 'w'", "too many elements");
  }
  // The largest shape whose strides fit is fine when empty.
  put(R"({"w": {"dtype": "F32", "shape": [0, 1024, 1024], "data_offsets": [0, 0]}})");
  EXPECT_EQ(io::load_safetensors(path)[0].second.shape(), (Shape{0, 1024, 1024}));
}

TEST_F(Hostile, EverySizeFieldThatWraps) {
  // element count, element count x itemsize, a single dim past int64, offsets past 2^64.
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {R"("shape": [4294967296, 4294967296], "data_offsets": [0, 0])", {"too many elements"}},
      {R"("shape": [2305843009213693952, 4], "data_offsets": [0, 0])", {"too many elements"}},
      {R"("shape": [9223372036854775808], "data_offsets": [0, 0])", {"too large for int64"}},
      {R"("shape": [18446744073709551615], "data_offsets": [0, 0])", {"too large for int64"}},
      {R"("shape": [-1], "data_offsets": [0, 0])", {"negative dim"}},
      {R"("shape": [1e3], "data_offsets": [0, 0])", {"non-integer dim"}},
      {R"("shape": [2], "data_offsets": [0, 18446744073709551615])", {"needs 8 bytes"}},
      {R"("shape": [2], "data_offsets": [18446744073709551608, 18446744073709551615])",
       {"needs 8 bytes"}},
      {R"("shape": [2], "data_offsets": [18446744073709551607, 18446744073709551615])",
       {"reach past the end"}},
      {R"("shape": [2], "data_offsets": [8, 0])", {"begin > end"}},
      {R"("shape": [2], "data_offsets": [-8, 0])", {"expected a non-negative integer"}},
      {R"("shape": [2], "data_offsets": [0, 18446744073709551616])",
       {"expected a non-negative integer"}},
      {R"("shape": [2], "data_offsets": [0, 8.0])", {"expected a non-negative integer"}},
  };
  for (const auto& [fields, parts] : cases) {
    put(R"({"w": {"dtype": "F32", )" + fields + "}}", k8);
    for (const std::string& part : parts) EXPECT_BOTH_HOSTILE("key 'w'", part);
  }
}

TEST_F(Hostile, TooManyDims) {
  std::string shape = "[";
  for (int i = 0; i < 65; ++i) shape += i ? ",1" : "1";
  put(R"({"w": {"dtype": "F32", "shape": )" + shape + R"(], "data_offsets": [0, 4]}})",
      f32_bytes({1.f}));
  EXPECT_BOTH_HOSTILE("key 'w'", "65 dims", "at most 64");
  // A million dims from a 2 MB header: rejected at the 129th value, before a DOM of them.
  std::string huge = "[";
  for (int i = 0; i < 1000000; ++i) huge += i ? ",1" : "1";
  put(R"({"w": {"dtype": "F32", "shape": )" + huge + R"(], "data_offsets": [0, 4]}})",
      f32_bytes({1.f}));
  EXPECT_BOTH_HOSTILE("key 'w'", "the entry holds more than 128 JSON values",
                      "got {\"dtype\":\"F32\",\"shape\":[1,1,1");
}

TEST_F(Hostile, HeaderLengthField) {
  // Every header length from 0 to past the file: an error, or (only the right one) success.
  const std::string file = safetensors_bytes(R"({"w": )" + kEntry + "}", k8);
  const uint64_t right = file.size() - 8 - k8.size();
  for (uint64_t n : {uint64_t(0), uint64_t(1), uint64_t(2), right - 1, right + 1, right + 8,
                     uint64_t(file.size()), uint64_t(1) << 32, uint64_t(1) << 63, ~uint64_t(0)}) {
    write_file(path, u64_le(n) + file.substr(8));
    EXPECT_DUET_ERROR(io::load_safetensors(path), "evil.safetensors");
  }
  write_file(path, u64_le(right) + file.substr(8));
  EXPECT_EQ(io::load_safetensors(path).size(), 1u);
}

// ---- 6. error messages quote at most ~200 characters ---------------------------------------

TEST_F(Hostile, HugeValuesAreQuotedShort) {
  const std::string mb(1 << 20, 'A');
  std::string mb_array = "[";
  for (int i = 0; i < (1 << 18); ++i) mb_array += i ? ",1" : "1";
  mb_array += "]";
  std::string arr120 = "[";  // within the 128-value limit, longer than a quote
  for (int i = 0; i < 120; ++i) arr120 += i ? ", 1000" : "1000";
  arr120 += "]";
  const std::string big_key = std::string(1 << 20, 'k');
  const std::string kMore = "holds more than 128 JSON values";
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {R"({"w": )" + arr120 + "}", {"key 'w'", "the entry is [1000,1000", ",...]"}},
      {R"({"w": )" + mb_array + "}", {"key 'w'", kMore, "got [1,1,1", ",...]"}},
      {R"({"w": ")" + mb + R"("})", {"key 'w'", "the entry is \"AAAA", "1048576 bytes"}},
      {R"({"w": {"dtype": ")" + mb + R"(", "shape": [2], "data_offsets": [0, 8]}})",
       {"unknown dtype", "AAAA", "1048576 bytes"}},
      {R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "pad": ")" + mb +
           R"("}, "x": 1})",
       {"key 'x'"}},
      {R"({"w": {"shape": [2], "data_offsets": [0, 8], "junk": )" + arr120 + "}}",
       {"has no \"dtype\""}},
      {R"({"w": {"shape": [2], "data_offsets": [0, 8], "junk": )" + mb_array + "}}", {kMore}},
      {R"({"w": {"dtype": "F32", "shape": )" + arr120 + R"(, "data_offsets": "x"}})",
       {"data_offsets is \"x\""}},
      {R"({"w": {"dtype": "F32", "shape": [2, "x)" + mb + R"("], "data_offsets": [0, 8]}})",
       {"non-integer dim \"xAAA"}},
      {R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": )" + arr120 + "}}",
       {"data_offsets is [1000,1000"}},
      {R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": )" + mb_array + "}}", {kMore}},
      {R"({"__metadata__": )" + arr120 + "}", {"__metadata__ is [1000,1000"}},
      {R"({"__metadata__": )" + mb_array + "}", {"__metadata__ " + kMore}},
      {R"({"__metadata__": {"k": )" + arr120 + "}}", {"holds [1000,1000"}},
      {R"({"__metadata__": {"k": )" + mb_array + "}}", {"__metadata__ " + kMore}},
      {R"({")" + big_key + R"(": 5})", {"key \"kkkk", "1048576 bytes"}},
      {R"({")" + big_key + R"(": )" + kEntry + R"(, ")" + big_key + R"(": 5})",
       {"more than once", "kkkk"}},
      {R"({"__metadata__": {")" + big_key + R"(": 5}})", {"__metadata__ key \"kkk"}},
  };
  for (const auto& [header, parts] : cases) {
    put(header, k8);
    for (const std::string& part : parts) EXPECT_BOTH_HOSTILE(part);
  }
}

TEST_F(Hostile, ParserMessagesAreCutToo) {  // nlohmann repeats the whole last token
  put(R"({"w": ")" + std::string(100000, 'A') + "\x01\"}");
  EXPECT_BOTH_HOSTILE("not valid JSON", "control character", "bytes)");
  put(R"({"w": )" + std::string(100000, '1') + "}");
  EXPECT_BOTH_HOSTILE("not valid JSON", "number overflow");
  put(R"({"w": {"dtype": "F32", "shape": [1e)" + std::string(100000, '9') + "]}}");
  EXPECT_BOTH_HOSTILE("not valid JSON");
  put(R"({"w": tru)" + std::string(100000, 'e') + "}");  // true, then garbage
  EXPECT_BOTH_HOSTILE("key 'w'");
}

TEST_F(Hostile, BinaryKeysAreEscapedInMessages) {
  put("{\"w\\u0000\\u001b[31m\": 5}");
  EXPECT_BOTH_HOSTILE("key \"w\\x00\\x1b[31m\"");
  // Every character escaped (4 output characters each), in the key and the value: still short.
  std::string ctl;
  for (int i = 0; i < 1000; ++i) ctl += "\\u0001";
  put(R"({")" + ctl + R"(": {"dtype": ")" + ctl + R"(", "shape": [2], "data_offsets": [0, 8]}})",
      k8);
  EXPECT_BOTH_HOSTILE("unknown dtype \"\\x01\\x01");
  put(R"({")" + ctl + R"(": [")" + ctl + R"(", ")" + ctl + R"(", ")" + ctl + R"("]})", k8);
  EXPECT_BOTH_HOSTILE("the entry is [\"\\x01");
}

// ---- truncation at every byte, trailing data ------------------------------------------------

TEST_F(Hostile, TruncatedAtEveryByte) {
  const std::string file = safetensors_bytes(
      R"({"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2], )"
      R"("data_offsets": [0, 8]}, "b": {"dtype": "F16", "shape": [3], "data_offsets": [8, 14]}})",
      k8 + std::string("\x00\x3c\x00\x40\x00\xc0", 6));
  write_file(path, file);
  ASSERT_EQ(io::load_safetensors(path).size(), 2u);
  for (size_t n = 0; n < file.size(); ++n) {
    write_file(path, file.substr(0, n));
    try {
      io::load_safetensors(path);
      ADD_FAILURE() << "a " << n << "-byte prefix of a " << file.size() << "-byte file loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("evil.safetensors"), std::string::npos) << e.what();
      EXPECT_LT(std::string(e.what()).size(), kMaxMessageChars);
    }
  }
}

TEST_F(Hostile, TrailingDataAndGapsInTheDataBuffer) {
  put(R"({"w": )" + kEntry + "}", k8 + "garbage");
  EXPECT_BOTH_HOSTILE("the data buffer holds 15 bytes but the tensors use 8",
                      "7 bytes of trailing data");
  put(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", k8 + "1234");
  EXPECT_BOTH_HOSTILE("key 'w'", "leaves bytes [0, 4) of the data buffer unused");
  put(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, )"
      R"("b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
      k8 + "1234");
  EXPECT_BOTH_HOSTILE("key 'b'", "leaves bytes [4, 8)");
  put("{}", "x");
  EXPECT_BOTH_HOSTILE("1 bytes of trailing data");
}

// ---- any path: a memfd through /proc/self/fd/N (what the fuzzers use) ------------------------

TEST_F(Hostile, LoadsFromAMemfd) {
  const std::string bytes = safetensors_bytes(R"({"w": )" + kEntry + "}", k8);
  const int fd = memfd_create("duet_test", 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  const std::string p = "/proc/self/fd/" + std::to_string(fd);
  nn::StateDict sd = io::load_safetensors(p);
  ASSERT_EQ(sd.size(), 1u);
  expect_values(sd[0].second, {1, 2});
  EXPECT_TRUE(io::load_safetensors_metadata(p).empty());
  close(fd);
}

TEST_F(Hostile, NotARegularFile) {
  EXPECT_DUET_ERROR(io::load_safetensors("/dev/null"), "/dev/null", "not a regular file");
}

TEST_F(Hostile, LongPathsKeepMessagesShort) {
  std::string long_dir = dir.file(std::string(200, 'd'));
  for (int i = 0; i < 8; ++i) long_dir += "/" + std::string(200, 'd');
  std::filesystem::create_directories(long_dir);
  const std::string p = long_dir + "/evil.safetensors";
  write_file(p, safetensors_bytes(R"({"w": )" + nest('[', 1000) + "}", ""));
  try {
    io::load_safetensors(p);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_LT(m.size(), kMaxMessageChars) << m;
    EXPECT_NE(m.find("dddd/evil.safetensors"), std::string::npos) << m;
  }
}

}  // namespace

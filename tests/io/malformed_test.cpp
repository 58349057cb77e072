// safetensors: every malformed file throws duet::Error naming the file, the key and the values.
#include "duet/io.h"
#include "io_test_util.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// A fixture with one file path; `bad(header, data)` writes it, `expect_error(parts...)`
// checks both load_safetensors and load_safetensors_metadata (both validate the header).
class Malformed : public ::testing::Test {
 protected:
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  void bad(const std::string& header, const std::string& data) {
    write_safetensors_bytes(path, header, data);
  }
};

#define EXPECT_LOAD_ERROR(...)                                                              \
  do {                                                                                      \
    EXPECT_DUET_ERROR(io::load_safetensors(path), "load_safetensors", "bad.safetensors",    \
                      __VA_ARGS__);                                                         \
    EXPECT_DUET_ERROR(io::load_safetensors_metadata(path), "bad.safetensors", __VA_ARGS__); \
  } while (0)

const std::string k40 = f32_bytes(std::vector<float>(10, 1.f));  // 40 bytes

TEST_F(Malformed, MissingFile) {
  EXPECT_LOAD_ERROR("cannot open the file", "No such file");
}

TEST_F(Malformed, Directory) {
  path = dir.path().string();
  EXPECT_DUET_ERROR(io::load_safetensors(path), "load_safetensors", "is a directory");
}

TEST_F(Malformed, ShorterThanEightBytes) {
  write_file(path, std::string("\x05\x00\x00", 3));
  EXPECT_LOAD_ERROR("the file is 3 bytes, too short", "expected at least 8 bytes");
  write_file(path, "");
  EXPECT_LOAD_ERROR("the file is 0 bytes");
}

TEST_F(Malformed, HeaderLengthLargerThanFile) {
  write_file(path, u64_le(1000) + "{}      ");
  EXPECT_LOAD_ERROR("header length 1000 is larger than the rest of the file (8 bytes");
}

TEST_F(Malformed, HeaderLengthAbsurd) {
  write_file(path, u64_le(uint64_t(1) << 40) + "{}      ");
  EXPECT_LOAD_ERROR("header length 1099511627776 is absurd");
  write_file(path, u64_le(~uint64_t(0)) + "{}      ");
  EXPECT_LOAD_ERROR("is absurd");
}

TEST_F(Malformed, InvalidJson) {
  bad(R"({"a": {"dtype": "F32",)", "");
  EXPECT_LOAD_ERROR("header is not valid JSON", "parse error");
  write_file(path, u64_le(8) + std::string("\x00\x00\x00\x00\x00\x00\x00\x00", 8));
  EXPECT_LOAD_ERROR("not valid JSON");
}

TEST_F(Malformed, HeaderNotAnObject) {
  bad("[1, 2]", "");
  EXPECT_LOAD_ERROR("the header is array", "expected a JSON object");
}

TEST_F(Malformed, EntryNotAnObject) {
  bad(R"({"w": [1, 2]})", "");
  EXPECT_LOAD_ERROR("key 'w'", "expected an object with dtype, shape and data_offsets");
}

TEST_F(Malformed, MissingDtype) {
  bad(R"({"fc.weight": {"shape": [10], "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'fc.weight'", "has no \"dtype\"");
}

TEST_F(Malformed, MissingShape) {
  bad(R"({"fc.weight": {"dtype": "F32", "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'fc.weight'", "has no \"shape\"");
}

TEST_F(Malformed, MissingDataOffsets) {
  bad(R"({"fc.weight": {"dtype": "F32", "shape": [10]}})", k40);
  EXPECT_LOAD_ERROR("key 'fc.weight'", "has no \"data_offsets\"");
}

TEST_F(Malformed, DtypeNotAString) {
  bad(R"({"w": {"dtype": 7, "shape": [10], "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "dtype is 7", "expected a string");
}

TEST_F(Malformed, UnknownDtype) {
  bad(R"({"w": {"dtype": "Q4", "shape": [10], "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "unknown dtype 'Q4'");
}

TEST_F(Malformed, UnsupportedDtypes) {
  bad(R"({"ids": {"dtype": "I32", "shape": [10], "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'ids'", "dtype I32 is not supported", "F32, F64, I64, BOOL");
  bad(R"({"pix": {"dtype": "U8", "shape": [40], "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'pix'", "dtype U8 is not supported");
  bad(R"({"q": {"dtype": "I8", "shape": [40], "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'q'", "dtype I8 is not supported");
}

TEST_F(Malformed, NegativeDim) {
  bad(R"({"w": {"dtype": "F32", "shape": [-2, 5], "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "shape [-2,5] has the negative dim -2");
}

TEST_F(Malformed, NonIntegerDim) {
  bad(R"({"w": {"dtype": "F32", "shape": [2.5, 4], "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "non-integer dim 2.5");
  bad(R"({"w": {"dtype": "F32", "shape": ["10"], "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "non-integer dim \"10\"");
  bad(R"({"w": {"dtype": "F32", "shape": 10, "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "shape is 10", "expected a list of integers");
}

TEST_F(Malformed, HugeShapeOverflows) {
  bad(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 40]}})",
      k40);
  EXPECT_LOAD_ERROR("key 'w'", "too many elements");
}

TEST_F(Malformed, DataOffsetsNotAPair) {
  bad(R"({"w": {"dtype": "F32", "shape": [10], "data_offsets": [0]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "data_offsets is [0]", "expected [begin, end]");
  bad(R"({"w": {"dtype": "F32", "shape": [10], "data_offsets": {"a": 1}}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "expected [begin, end]");
}

TEST_F(Malformed, DataOffsetsNegativeOrNonInteger) {
  bad(R"({"w": {"dtype": "F32", "shape": [10], "data_offsets": [-4, 36]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "data_offsets[0] is -4", "non-negative integer");
  bad(R"({"w": {"dtype": "F32", "shape": [10], "data_offsets": [0, 40.0]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "data_offsets[1] is 40.0");
}

TEST_F(Malformed, DataOffsetsBeginAfterEnd) {
  bad(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [40, 0]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "data_offsets [40, 0] have begin > end");
}

TEST_F(Malformed, DataOffsetsOutsideTheBuffer) {
  bad(R"({"w": {"dtype": "F32", "shape": [10], "data_offsets": [40, 80]}})", k40);
  EXPECT_LOAD_ERROR("key 'w'", "data_offsets [40, 80] reach past the end of the data buffer",
                    "holds 40 bytes");
}

TEST_F(Malformed, ByteCountDoesNotMatchShape) {
  bad(R"({"fc.weight": {"dtype": "F32", "shape": [10, 5], "data_offsets": [0, 196]}})",
      f32_bytes(std::vector<float>(50, 0.f)));
  EXPECT_LOAD_ERROR("key 'fc.weight': shape [10, 5] F32 needs 200 bytes, data_offsets give 196");
  bad(R"({"s": {"dtype": "F64", "shape": [], "data_offsets": [0, 4]}})", k40);
  EXPECT_LOAD_ERROR("key 's': shape [] F64 needs 8 bytes, data_offsets give 4");
}

TEST_F(Malformed, OverlappingTensors) {
  bad(R"({"a": {"dtype": "F32", "shape": [6], "data_offsets": [0, 24]},)"
      R"( "b": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}})",
      k40);
  EXPECT_LOAD_ERROR("key 'b' (data_offsets [16, 32]) overlaps key 'a' (data_offsets [0, 24])");
  // Also when the JSON lists them in the other order.
  bad(R"({"b": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]},)"
      R"( "a": {"dtype": "F32", "shape": [6], "data_offsets": [0, 24]}})",
      k40);
  EXPECT_LOAD_ERROR("overlaps");
}

TEST_F(Malformed, TruncatedData) {
  io::save_safetensors(path, {{"w", Tensor::ones({10})}, {"b", Tensor::ones({4})}});
  std::string bytes = read_file(path);
  write_file(path, bytes.substr(0, bytes.size() - 3));
  EXPECT_LOAD_ERROR("key 'b'", "reach past the end of the data buffer", "truncated");
}

TEST_F(Malformed, DuplicateKeys) {
  bad(R"({"w": {"dtype": "F32", "shape": [5], "data_offsets": [0, 20]},)"
      R"( "w": {"dtype": "F32", "shape": [5], "data_offsets": [20, 40]}})",
      k40);
  EXPECT_LOAD_ERROR("the header has the key 'w' more than once");
  bad(R"({"w": {"dtype": "F32", "dtype": "F64", "shape": [10], "data_offsets": [0, 40]}})", k40);
  EXPECT_LOAD_ERROR("key 'dtype' more than once inside one entry");
}

TEST_F(Malformed, MetadataNotStrings) {
  bad(R"({"__metadata__": {"epoch": 3}})", "");
  EXPECT_LOAD_ERROR("__metadata__ key 'epoch' holds 3", "expected a string");
  bad(R"({"__metadata__": [1]})", "");
  EXPECT_LOAD_ERROR("__metadata__ is [1]");
}

TEST_F(Malformed, ValidFileStillLoadsAfterTheseChecks) {
  bad(R"({"a": {"dtype": "F32", "shape": [6], "data_offsets": [0, 24]},)"
      R"( "z": {"dtype": "F32", "shape": [0], "data_offsets": [24, 24]},)"
      R"( "b": {"dtype": "F32", "shape": [4], "data_offsets": [24, 40]}})",
      k40);
  EXPECT_EQ(io::load_safetensors(path).size(), 3u);
}

}  // namespace

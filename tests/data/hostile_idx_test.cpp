// IDX files made by an attacker (issue #19): dimension products that wrap, claims far larger
// than the file (raw and gzip), gzip streams without their trailer or with a bad one, trailing
// garbage, truncation at every byte. Each ends in a duet::Error naming the file and the
// problem, with a message under 2,000 characters, in a child process whose memory may grow
// by 256 MiB at most (tests/hostile_util.h).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "duet/data.h"
#include "idx_bytes.h"
#include "hostile_util.h"
#include "io/reader.h"
#include "test_util.h"

using namespace duet;
namespace fs = std::filesystem;

namespace {

class HostileIdx : public ::testing::Test {
 protected:
  HostileIdx() {
    dir_ = fs::temp_directory_path() /
           ("duet_hostile_idx_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~HostileIdx() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

using test::idx_bytes;
using test::put_be32;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// One gzip member holding `bytes` (header, deflate data, CRC-32 and length trailer).
std::string gzip(const std::string& bytes) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, bytes.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 % 251);
  return s;
}

const std::string kPayload = pattern(6);
const std::string kGood = idx_bytes(0x08, {2, 3}, kPayload);  // 20 bytes

// ---- 2., 3. products that wrap ---------------------------------------------------------------

TEST_F(HostileIdx, Int32Rank2Of2Pow31) {  // the reported 76-byte file
  const std::string bytes = idx_bytes(0x0C, {1u << 31, 1u << 31}, std::string(64, '\x01'));
  ASSERT_EQ(bytes.size(), 76u);
  write_bytes(file("wrap.idx"), bytes);
  EXPECT_HOSTILE_ERROR(data::read_idx(file("wrap.idx")), "read_idx", "wrap.idx",
                       "(2147483648, 2147483648)", "too many elements");
}

TEST_F(HostileIdx, FourDimsOf2Pow20LoadNothing) {  // numel wrapped to 0 before
  write_bytes(file("zero.idx"), idx_bytes(0x08, {1u << 20, 1u << 20, 1u << 20, 1u << 20}, "x"));
  EXPECT_HOSTILE_ERROR(data::read_idx(file("zero.idx")), "zero.idx", "too many elements");
}

TEST_F(HostileIdx, EveryWrappingProduct) {
  const uint32_t m = 0xFFFFFFFFu;
  const std::vector<std::pair<int, std::vector<uint32_t>>> cases = {
      {0x08, {m, m, m}},                // 2^96 elements
      {0x08, {1u << 31, 1u << 31, 2}},  // 2^63 bytes: one past int64
      {0x0C, {1u << 30, 1u << 30, 8}},  // 2^63 elements x 4 bytes
      {0x0B, {1u << 31, 1u << 31}},     // 2^62 elements x 2 bytes = 2^63
      {0x08, {0, m, m, m}},             // zero dim first: strides still wrap
      {0x08, {m, m, m, 0}},             // zero dim last
      {0x08, {1u << 31, 1u << 30, 2}},  // 2^62 bytes fit, the int64 result (x 8) does not
  };
  for (const auto& [type, dims] : cases) {
    write_bytes(file("w.idx"), idx_bytes(type, dims, "abcd"));
    EXPECT_HOSTILE_ERROR(data::read_idx(file("w.idx")), "w.idx", "too many elements",
                         shape_str(Shape(dims.begin(), dims.end())));
    write_bytes(file("w.idx.gz"), gzip(idx_bytes(type, dims, "abcd")));
    EXPECT_HOSTILE_ERROR(data::read_idx(file("w.idx.gz")), "w.idx.gz", "too many elements");
  }
  // The last case's float32 result (x 4 bytes = 2^64) does not fit either.
  write_bytes(file("f.idx"), idx_bytes(0x08, {1u << 31, 1u << 30, 2}, "abcd"));
  EXPECT_HOSTILE_ERROR(data::read_idx(file("f.idx"), {.dtype = float32}), "f.idx",
                       "too many elements");
}

TEST_F(HostileIdx, TooManyDims) {
  std::string bytes;
  put_be32(bytes, (0x08u << 8) | 65u);
  for (int i = 0; i < 65; ++i) put_be32(bytes, 1);
  write_bytes(file("r.idx"), bytes + "x");
  EXPECT_HOSTILE_ERROR(data::read_idx(file("r.idx")), "r.idx", "rank 65", "at most 64");
  std::string ok;
  put_be32(ok, (0x08u << 8) | 64u);
  for (int i = 0; i < 64; ++i) put_be32(ok, 1);
  write_bytes(file("ok.idx"), ok + "x");
  EXPECT_EQ(data::read_idx(file("ok.idx")).numel(), 1);
}

// ---- 5. claims larger than the file ----------------------------------------------------------

TEST_F(HostileIdx, HugeClaimRawAndGzipAllocateNothing) {
  const std::string header = idx_bytes(0x0E, {0x7FFFFFFFu}, "");  // (2^31 - 1) x 8 bytes
  write_bytes(file("claim.idx"), header);
  EXPECT_HOSTILE_ERROR(data::read_idx(file("claim.idx"), {.dtype = float64}), "claim.idx",
                       "truncated", "expected 17179869176 bytes", "got 0");
  const std::string gz = gzip(header);
  EXPECT_LE(gz.size(), 43u);
  write_bytes(file("claim.idx.gz"), gz);
  EXPECT_HOSTILE_ERROR(data::read_idx(file("claim.idx.gz"), {.dtype = float64}), "claim.idx.gz",
                       "truncated", "expected 17179869176 bytes", "got 0");
  // With some data: the error says how much arrived.
  write_bytes(file("some.idx.gz"), gzip(header + pattern(3 << 20)));
  EXPECT_HOSTILE_ERROR(data::read_idx(file("some.idx.gz"), {.dtype = float64}), "some.idx.gz",
                       "truncated", "got 3145728");
  write_bytes(file("some.idx"), header + pattern(1000));
  EXPECT_HOSTILE_ERROR(data::read_idx(file("some.idx"), {.dtype = float64}), "some.idx",
                       "truncated", "got 1000");
}

// ---- 7. the gzip trailer, trailing garbage, multi-member -------------------------------------

TEST_F(HostileIdx, GzipWithoutItsTrailer) {
  const std::string gz = gzip(kGood);
  for (size_t cut = 1; cut <= 8; ++cut) {
    write_bytes(file("cut.gz"), gz.substr(0, gz.size() - cut));
    EXPECT_HOSTILE_ERROR(data::read_idx(file("cut.gz")), "cut.gz", "truncated");
  }
  write_bytes(file("cut.gz"), gz.substr(0, gz.size() - 8));
  EXPECT_HOSTILE_ERROR(data::read_idx(file("cut.gz")), "cut.gz", "without its end marker",
                       "trailer");
  write_bytes(file("ok.gz"), gz);
  EXPECT_EQ(data::read_idx(file("ok.gz")).numel(), 6);
}

TEST_F(HostileIdx, GzipWithABadTrailer) {
  const std::string gz = gzip(kGood);
  std::string bad_crc = gz, bad_len = gz;
  bad_crc[gz.size() - 8] = static_cast<char>(bad_crc[gz.size() - 8] ^ 1);
  bad_len[gz.size() - 4] = static_cast<char>(bad_len[gz.size() - 4] ^ 1);
  write_bytes(file("crc.gz"), bad_crc);
  EXPECT_HOSTILE_ERROR(data::read_idx(file("crc.gz")), "crc.gz", "corrupt", "incorrect data check");
  write_bytes(file("len.gz"), bad_len);
  EXPECT_HOSTILE_ERROR(data::read_idx(file("len.gz")), "len.gz", "corrupt",
                       "incorrect length check");
  std::string bad_data = gz;
  bad_data[12] = static_cast<char>(bad_data[12] ^ 0x55);
  write_bytes(file("data.gz"), bad_data);
  EXPECT_HOSTILE_ERROR(data::read_idx(file("data.gz")), "data.gz");
}

TEST_F(HostileIdx, TrailingBytes) {
  const std::string gz = gzip(kGood);
  for (const std::string& tail :
       {std::string("x"), std::string("\x1f"), std::string(8, '\0'), std::string("garbage!")}) {
    write_bytes(file("t.gz"), gz + tail);
    EXPECT_HOSTILE_ERROR(data::read_idx(file("t.gz")), "t.gz", "trailing garbage after the gzip");
  }
  // A second member that decompresses to bytes past the data.
  write_bytes(file("more.gz"), gz + gzip("extra"));
  EXPECT_HOSTILE_ERROR(data::read_idx(file("more.gz")), "more.gz", "holds more data after");
  // Raw: bytes after the data.
  write_bytes(file("t.idx"), kGood + "junk");
  EXPECT_HOSTILE_ERROR(data::read_idx(file("t.idx")), "t.idx", "has 4 bytes after",
                       "expected the end of the file");
  // A gzip stream holding bytes past the data.
  write_bytes(file("in.gz"), gzip(kGood + "junk"));
  EXPECT_HOSTILE_ERROR(data::read_idx(file("in.gz")), "in.gz", "holds more data after");
}

TEST_F(HostileIdx, ConcatenatedGzipMembersAreOneStream) {
  write_bytes(file("multi.gz"), gzip(kGood.substr(0, 7)) + gzip("") + gzip(kGood.substr(7)));
  Tensor t = data::read_idx(file("multi.gz"));
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  std::vector<int64_t> expected;
  for (char c : kPayload) expected.push_back(static_cast<unsigned char>(c));
  EXPECT_EQ(t.to_vector<int64_t>(), expected);
}

// ---- truncation at every byte, raw and gzip --------------------------------------------------

TEST_F(HostileIdx, TruncatedAtEveryByte) {
  const std::string raw = idx_bytes(0x0B, {2, 3, 4}, pattern(48));
  const std::string gz = gzip(raw);
  const std::vector<std::pair<std::string, std::string>> files = {{"t.idx", raw}, {"t.idx.gz", gz}};
  for (const auto& [name, bytes] : files) {
    write_bytes(file(name), bytes);
    ASSERT_EQ(data::read_idx(file(name)).numel(), 24) << name;
    for (size_t n = 0; n < bytes.size(); ++n) {
      write_bytes(file(name), bytes.substr(0, n));
      try {
        data::read_idx(file(name));
        ADD_FAILURE() << "a " << n << "-byte prefix of " << name << " loaded";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
        EXPECT_LT(std::string(e.what()).size(), test::kMaxMessageChars);
      }
    }
  }
}

// ---- paths: memfd, special files, long names -------------------------------------------------

TEST_F(HostileIdx, MemfdRawAndGzip) {
  for (const std::string& bytes : {kGood, gzip(kGood)}) {
    const int fd = memfd_create("duet_idx", 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    Tensor t = data::read_idx("/proc/self/fd/" + std::to_string(fd));
    EXPECT_EQ(t.shape(), (Shape{2, 3}));
    close(fd);
  }
}

TEST_F(HostileIdx, SpecialFiles) {
  EXPECT_DUET_ERROR(data::read_idx("/dev/zero"), "/dev/zero", "not a regular file");
  EXPECT_DUET_ERROR(data::read_idx(dir_.string()), "is a directory", "expected an IDX file");
  ASSERT_EQ(mkfifo(file("fifo").c_str(), 0600), 0);
  // Opening a FIFO for reading would block until a writer comes; open with a writer present.
  const int wfd = ::open(file("fifo").c_str(), O_RDWR);
  ASSERT_GE(wfd, 0);
  EXPECT_DUET_ERROR(data::read_idx(file("fifo")), "fifo", "not a regular file");
  close(wfd);
}

TEST_F(HostileIdx, LongPathsKeepMessagesShort) {
  std::string long_dir = file(std::string(200, 'd'));
  for (int i = 0; i < 8; ++i) long_dir += "/" + std::string(200, 'd');
  fs::create_directories(long_dir);
  const std::string p = long_dir + "/wrap.idx";
  write_bytes(p, idx_bytes(0x0C, {1u << 31, 1u << 31}, ""));
  try {
    data::read_idx(p);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_LT(std::string(e.what()).size(), test::kMaxMessageChars) << e.what();
    EXPECT_NE(std::string(e.what()).find("dddd/wrap.idx"), std::string::npos) << e.what();
  }
}

TEST_F(HostileIdx, ReaderSourcesReadExactlyWhatTheFileHolds) {
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 % 253);
  write_bytes(file("raw"), data);
  write_bytes(file("gz"), gzip(data));
  for (const char* name : {"raw", "gz"}) {
    auto src = io::open_source(file(name), "test: 'f': ");
    EXPECT_EQ(src->compressed(), std::string(name) == "gz");
    char head[5];
    src->read_exact(head, 5, "the head");
    EXPECT_EQ(std::string(head, 5), data.substr(0, 5));
    const auto rest = io::read_claim(*src, data.size() - 5, "the rest");
    EXPECT_TRUE(std::string(rest.begin(), rest.end()) == data.substr(5)) << name;
    EXPECT_NO_THROW(src->expect_end("the rest"));
    EXPECT_EQ(src->offset(), data.size());
    // One more byte than there is: truncated, no allocation of the claim for raw files.
    auto again = io::open_source(file(name), "test: 'f': ");
    EXPECT_DUET_ERROR(io::read_claim(*again, data.size() + 1, "it all"),
                      "test: 'f': ", "is truncated: expected 3145729 bytes of it all, got");
    auto huge = io::open_source(file(name), "test: 'f': ");
    EXPECT_DUET_ERROR(io::read_claim(*huge, uint64_t(1) << 62, "it all"), "is truncated");
  }
}

}  // namespace

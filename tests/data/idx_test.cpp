// read_idx on small raw and gzip files written here, MNIST-format directory loading and its
// errors, and the real Fashion-MNIST when it is installed.
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "duet/data.h"
#include "idx_bytes.h"
#include "test_util.h"

using namespace duet;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test, removed at the end.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ =
        fs::temp_directory_path() / ("duet_idx_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

using test::idx_bytes;
using test::put_be32;

std::string ubytes(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s.push_back(static_cast<char>(x));
  return s;
}

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(f);
}

// N images of rows x cols with pixel (n, r, c) = (n * 7 + r * cols + c) % 256, labels n % 10.
void write_mnist_dir(const TempDir& dir, const std::string& prefix, int n, int rows, int cols,
                     int n_labels, bool gz) {
  std::vector<int> pixels, labels;
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) pixels.push_back((i * 7 + r * cols + c) % 256);
  for (int i = 0; i < n_labels; ++i) labels.push_back(i % 10);
  auto write = gz ? write_gz : write_raw;
  const std::string ext = gz ? ".gz" : "";
  write(dir.file(prefix + "-images-idx3-ubyte" + ext),
        idx_bytes(0x08, {uint32_t(n), uint32_t(rows), uint32_t(cols)}, ubytes(pixels)));
  write(dir.file(prefix + "-labels-idx1-ubyte" + ext),
        idx_bytes(0x08, {uint32_t(n_labels)}, ubytes(labels)));
}

}  // namespace

TEST(ReadIdx, RawAndGzipGiveTheSameTensor) {
  TempDir dir;
  const std::string bytes = idx_bytes(0x08, {2, 3}, ubytes({0, 1, 2, 128, 254, 255}));
  write_raw(dir.file("a.idx"), bytes);
  write_gz(dir.file("a.idx.gz"), bytes);
  for (const std::string name : {"a.idx", "a.idx.gz"}) {
    Tensor t = data::read_idx(dir.file(name));
    EXPECT_EQ(t.dtype(), int64);
    EXPECT_EQ(t.shape(), (Shape{2, 3}));
    EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 128, 254, 255})) << name;
    Tensor f = data::read_idx(dir.file(name), {.dtype = float32, .scale = 1.0 / 255});
    EXPECT_EQ(f.dtype(), float32);
    test::expect_values(f, {0, 1 / 255.0, 2 / 255.0, 128 / 255.0, 254 / 255.0, 1.0}, 1e-7);
  }
}

TEST(ReadIdx, OtherElementTypesAreBigEndian) {
  TempDir dir;
  // int32: -2, 258 ; int16: -1, 513 ; float32: 1.5 ; int8: -3
  std::string i32;
  put_be32(i32, static_cast<uint32_t>(-2));
  put_be32(i32, 258);
  write_gz(dir.file("i32.gz"), idx_bytes(0x0C, {2}, i32));
  EXPECT_EQ(data::read_idx(dir.file("i32.gz")).to_vector<int64_t>(),
            (std::vector<int64_t>{-2, 258}));
  write_raw(dir.file("i16"), idx_bytes(0x0B, {2}, ubytes({0xFF, 0xFF, 0x02, 0x01})));
  EXPECT_EQ(data::read_idx(dir.file("i16")).to_vector<int64_t>(), (std::vector<int64_t>{-1, 513}));
  std::string f32;
  put_be32(f32, 0x3FC00000u);  // 1.5f
  write_raw(dir.file("f32"), idx_bytes(0x0D, {1, 1}, f32));
  test::expect_values(data::read_idx(dir.file("f32"), {.dtype = float64}), {1.5}, 0);
  EXPECT_DUET_ERROR(data::read_idx(dir.file("f32")), "floating-point", "int64");
  write_raw(dir.file("i8"), idx_bytes(0x09, {1}, ubytes({0xFD})));
  EXPECT_EQ(data::read_idx(dir.file("i8")).to_vector<int64_t>(), (std::vector<int64_t>{-3}));
}

TEST(ReadIdx, Errors) {
  TempDir dir;
  // Missing file: names the path.
  EXPECT_DUET_ERROR(data::read_idx(dir.file("nope.gz")), "read_idx", dir.file("nope.gz"),
                    "cannot open the file", "No such file");
  // Bad magic: printed with the expected one.
  write_raw(dir.file("bad"), idx_bytes(0x07, {2}, ubytes({1, 2})));
  EXPECT_DUET_ERROR(data::read_idx(dir.file("bad")), dir.file("bad"), "bad magic number",
                    "0x00000701", "expected");
  write_gz(dir.file("rank.gz"), idx_bytes(0x08, {2}, ubytes({1, 2})));
  EXPECT_DUET_ERROR(data::read_idx(dir.file("rank.gz"), {.expected_rank = 3}), "0x00000801",
                    "expected 0x00000803");
  // Truncated payload, raw and gzip: bytes expected vs got.
  const std::string short_bytes = idx_bytes(0x08, {2, 4}, ubytes({1, 2, 3, 4, 5}));
  write_raw(dir.file("short"), short_bytes);
  write_gz(dir.file("short.gz"), short_bytes);
  for (const std::string name : {"short", "short.gz"})
    EXPECT_DUET_ERROR(data::read_idx(dir.file(name)), dir.file(name), "truncated",
                      "expected 8 bytes", "(2, 4)", "got 5");
  // A gzip stream cut in the middle is reported as truncated too.
  std::string big_payload(5000, '\0');
  for (size_t i = 0; i < big_payload.size(); ++i) big_payload[i] = static_cast<char>(i * 31 % 251);
  write_gz(dir.file("cut.gz"), idx_bytes(0x08, {5000}, big_payload));
  {
    std::string gz;
    std::ifstream f(dir.file("cut.gz"), std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(f), {});
    write_raw(dir.file("cut.gz"), gz.substr(0, gz.size() / 2));
  }
  EXPECT_DUET_ERROR(data::read_idx(dir.file("cut.gz")), dir.file("cut.gz"), "truncated",
                    "expected 5000 bytes");
  // Truncated header.
  write_raw(dir.file("tiny"), ubytes({0, 0}));
  EXPECT_DUET_ERROR(data::read_idx(dir.file("tiny")), "truncated", "header", "got 2");
  write_raw(dir.file("dims"), ubytes({0, 0, 8, 3, 0, 0, 0, 1}));
  EXPECT_DUET_ERROR(data::read_idx(dir.file("dims")), "truncated", "12 bytes", "got 4");
}

TEST(MnistDir, LoadsGzipOrRawAndNormalises) {
  TempDir dir;
  write_mnist_dir(dir, "train", 5, 4, 3, 5, /*gz=*/true);
  write_mnist_dir(dir, "t10k", 2, 4, 3, 2, /*gz=*/false);
  data::IdxDataset train = data::load_mnist_dir(dir.str(), true);
  EXPECT_EQ(train.size(), 5);
  EXPECT_EQ(train.images().shape(), (Shape{5, 1, 4, 3}));
  EXPECT_EQ(train.images().dtype(), float32);
  EXPECT_EQ(train.labels().dtype(), int64);
  EXPECT_EQ(train.labels().to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  std::vector<double> px = train.images().to_vector<double>();
  EXPECT_NEAR(px[12 + 5], (7 + 5) / 255.0, 1e-7);  // image 1, row 1, col 2
  data::IdxDataset test = data::load_mnist_dir(dir.str(), false, 0.5, 0.25);
  EXPECT_EQ(test.size(), 2);
  std::vector<double> tp = test.images().to_vector<double>();
  EXPECT_NEAR(tp[1], (1 / 255.0 - 0.5) / 0.25, 1e-6);
}

TEST(MnistDir, Errors) {
  TempDir dir;
  const std::string missing = dir.file("does-not-exist");
  EXPECT_DUET_ERROR(data::load_fashion_mnist(missing), "load_fashion_mnist", missing,
                    "does not exist", "train-images-idx3-ubyte.gz");
  // Directory exists but a file is absent: names the file that was expected.
  EXPECT_DUET_ERROR(data::load_fashion_mnist(dir.str(), false),
                    dir.file("t10k-images-idx3-ubyte.gz"), "not found", "test images");
  // Count mismatch between images and labels.
  write_mnist_dir(dir, "train", 4, 2, 2, 3, true);
  EXPECT_DUET_ERROR(data::load_mnist_dir(dir.str(), true), "4 images", "3 labels",
                    "train-labels-idx1-ubyte.gz");
  // Images file with the labels' rank: bad magic.
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_bytes(0x08, {2}, ubytes({1, 2})));
  write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes(0x08, {2}, ubytes({1, 2})));
  EXPECT_DUET_ERROR(data::load_mnist_dir(dir.str(), false), "t10k-images-idx3-ubyte.gz",
                    "0x00000801", "expected 0x00000803");
}

TEST(FashionMnist, RealDatasetWhenInstalled) {
  if (!fs::is_directory(data::kFashionMnistDir)) GTEST_SKIP() << data::kFashionMnistDir;
  for (bool train : {true, false}) {
    data::IdxDataset d = data::load_fashion_mnist(data::kFashionMnistDir, train);
    const int64_t n = train ? 60000 : 10000;
    EXPECT_EQ(d.images().shape(), (Shape{n, 1, 28, 28}));
    EXPECT_EQ(d.labels().shape(), (Shape{n}));
    std::vector<int64_t> counts(10, 0);
    for (int64_t y : d.labels().to_vector<int64_t>()) {
      ASSERT_GE(y, 0);
      ASSERT_LE(y, 9);
      counts[y]++;
    }
    for (int64_t c : counts) EXPECT_EQ(c, n / 10);  // balanced classes
    std::vector<float> px = d.images().to_vector<float>();
    double mean = 0;
    float lo = 1, hi = 0;
    for (float v : px) {
      mean += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    mean /= static_cast<double>(px.size());
    EXPECT_EQ(lo, 0.0f);
    EXPECT_EQ(hi, 1.0f);
    EXPECT_NEAR(mean, data::kFashionMnistMean, 0.01);
  }
  data::IdxDataset norm = data::load_fashion_mnist(data::kFashionMnistDir, false, true);
  std::vector<float> px = norm.images().to_vector<float>();
  double mean = 0, sq = 0;
  for (float v : px) {
    mean += v;
    sq += static_cast<double>(v) * v;
  }
  mean /= static_cast<double>(px.size());
  const double std = std::sqrt(sq / static_cast<double>(px.size()) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(std, 1.0, 0.02);
}

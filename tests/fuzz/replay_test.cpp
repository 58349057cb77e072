// Replays every committed fuzz input (fuzz/corpus/<target>/ and fuzz/crashes/<target>/)
// through the fuzz targets, built without libFuzzer: a crash found once stays fixed. A target
// aborts on anything but a result or a duet::Error, so a regression fails this test.
//
//   build/tests/duet_test_fuzz --gtest_filter='*Ops*'
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int duet_fuzz_safetensors(const uint8_t* data, size_t size);
extern "C" int duet_fuzz_idx(const uint8_t* data, size_t size);
extern "C" int duet_fuzz_ops(const uint8_t* data, size_t size);
extern "C" int duet_fuzz_checkpoint(const uint8_t* data, size_t size);
extern "C" int duet_fuzz_store(const uint8_t* data, size_t size);
extern "C" int duet_fuzz_onnx(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;
using Entry = int (*)(const uint8_t*, size_t);

// The files to replay for `target`: fuzz/corpus/<target>/* and fuzz/crashes/<target>/*, or
// the files and directories named in DUET_FUZZ_FILES (colon-separated; a path containing
// the target's name replays through that target only), e.g.
//   DUET_FUZZ_FILES=fuzz/open/fuzz_ops/x build/tests/duet_test_fuzz --gtest_filter='*Ops'
std::vector<fs::path> files_of(const std::string& target) {
  std::vector<fs::path> roots, files;
  if (const char* env = std::getenv("DUET_FUZZ_FILES")) {
    std::string list = env;
    for (size_t b = 0, e; b <= list.size(); b = e + 1) {
      e = std::min(list.find(':', b), list.size());
      const std::string p = list.substr(b, e - b);
      if (!p.empty() && p.find(target) != std::string::npos) roots.emplace_back(p);
    }
  } else {
    for (const char* dir : {"corpus", "crashes"})
      roots.push_back(fs::path(DUET_SOURCE_DIR) / "fuzz" / dir / target);
  }
  for (const fs::path& root : roots) {
    if (fs::is_regular_file(root)) files.push_back(root);
    if (!fs::is_directory(root)) continue;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Runs every file of files_of(target); returns how many.
size_t replay(const std::string& target, Entry entry) {
  size_t n = 0;
  {
    for (const fs::path& f : files_of(target)) {
      std::ifstream in(f, std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
      SCOPED_TRACE(f.string());
      EXPECT_EQ(entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
      ++n;
    }
  }
  return n;
}

}  // namespace

// With DUET_FUZZ_FILES a target may get no file; without it each has a seed corpus.
const bool kFilesGiven = std::getenv("DUET_FUZZ_FILES") != nullptr;

TEST(FuzzReplay, Safetensors) {
  EXPECT_TRUE(replay("fuzz_safetensors", duet_fuzz_safetensors) > 0 || kFilesGiven);
}

TEST(FuzzReplay, Idx) {
  EXPECT_TRUE(replay("fuzz_idx", duet_fuzz_idx) > 0 || kFilesGiven);
}

TEST(FuzzReplay, Checkpoint) {
  EXPECT_TRUE(replay("fuzz_checkpoint", duet_fuzz_checkpoint) > 0 || kFilesGiven);
}

TEST(FuzzReplay, Store) {
  EXPECT_TRUE(replay("fuzz_store", duet_fuzz_store) > 0 || kFilesGiven);
}

TEST(FuzzReplay, Ops) {
  EXPECT_TRUE(replay("fuzz_ops", duet_fuzz_ops) > 0 || kFilesGiven);
}

TEST(FuzzReplay, Onnx) {
  EXPECT_TRUE(replay("fuzz_onnx", duet_fuzz_onnx) > 0 || kFilesGiven);
}

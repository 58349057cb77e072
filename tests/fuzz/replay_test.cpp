// Replays every committed fuzz input (fuzz/corpus/<target>/ and fuzz/crashes/<target>/)
// through the fuzz targets, built without libFuzzer: a crash found once stays fixed. A target
// aborts on anything but a result or a duet::Error, so a regression fails this test.
//
//   build/tests/duet_test_fuzz --gtest_filter='*Ops*'
#include <gtest/gtest.h>

#include <cstdint>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int duet_fuzz_safetensors(const uint8_t* data, size_t size);
extern "C" int duet_fuzz_idx(const uint8_t* data, size_t size);
extern "C" int duet_fuzz_ops(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;
using Entry = int (*)(const uint8_t*, size_t);

// Runs every file of fuzz/corpus/<target> and fuzz/crashes/<target>; returns how many.
size_t replay(const std::string& target, Entry entry) {
  size_t n = 0;
  for (const char* dir : {"corpus", "crashes"}) {
    const fs::path root = fs::path(DUET_SOURCE_DIR) / "fuzz" / dir / target;
    if (!fs::is_directory(root)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
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

TEST(FuzzReplay, Safetensors) {
  EXPECT_GT(replay("fuzz_safetensors", duet_fuzz_safetensors), 0u);
}

TEST(FuzzReplay, Idx) {
  EXPECT_GT(replay("fuzz_idx", duet_fuzz_idx), 0u);
}

TEST(FuzzReplay, Ops) {
  EXPECT_GT(replay("fuzz_ops", duet_fuzz_ops), 0u);
}

// The loaders' reader layer (src/io/reader.h) on its own: quoting, checked sizes, the JSON
// depth scan, file sources, the crash-safe writer (gzip sources: tests/data/hostile_idx_test.cpp,
// which links zlib).
#include "io/reader.h"

#include "hostile_util.h"
#include "io_test_util.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

const std::string kWhere = "test: 'f': ";

TEST(Reader, QuoteEscapesAndCuts) {
  EXPECT_EQ(io::quote("abc"), "\"abc\"");
  EXPECT_EQ(io::quote(std::string("a\0\x1b\"\\", 5)), "\"a\\x00\\x1b\\\"\\\\\"");
  EXPECT_EQ(io::quote("h\xc3\xa9llo"), "\"h\xc3\xa9llo\"");
  EXPECT_EQ(io::quote(std::string(1000, 'x'), 10), "\"xxxxxxxxxx\"... (1000 bytes)");
  // A cut never splits a UTF-8 character.
  EXPECT_EQ(io::quote("\xc3\xa9\xc3\xa9\xc3\xa9", 3), "\"\xc3\xa9\"... (6 bytes)");
  EXPECT_EQ(io::quote("\xc3\xa9\xc3\xa9\xc3\xa9", 4), "\"\xc3\xa9\xc3\xa9\"... (6 bytes)");
  EXPECT_EQ(io::quote("a\xe2\x82\xac"
                      "b",
                      3),
            "\"a\"... (5 bytes)");  // a, then 2 of 3 bytes of €
  EXPECT_LT(io::quote(std::string(1 << 20, 'x')).size(), 250u);
  EXPECT_LT(io::quote(std::string(1 << 20, '\0')).size(), 250u);  // escapes count too
}

TEST(Reader, CutKeepsQuotes) {
  EXPECT_EQ(io::cut("say \"hi\"\n"), "say \"hi\"\\x0a");
  EXPECT_EQ(io::cut(std::string(1000, 'x'), 4), "xxxx... (1000 bytes)");
}

TEST(Reader, WhereOfShortensLongPaths) {
  EXPECT_EQ(io::where_of("f", "a/b"), "f: 'a/b': ");
  const std::string w = io::where_of("f", std::string(5000, 'd') + "/name.bin");
  EXPECT_LT(w.size(), 320u);
  EXPECT_NE(w.find("ddd/name.bin"), std::string::npos);
}

TEST(Reader, CheckedArithmetic) {
  EXPECT_EQ(io::checked_mul(3, 4, kWhere, "x"), 12u);
  EXPECT_DUET_ERROR(io::checked_mul(uint64_t(1) << 32, uint64_t(1) << 31, kWhere, "the count"),
                    "test: 'f': the count overflows");
  EXPECT_DUET_ERROR(io::checked_add(uint64_t(1) << 62, uint64_t(1) << 62, kWhere, "the end"),
                    "the end overflows");
  EXPECT_EQ(io::checked_bytes({2, 3}, 4, kWhere, "shape"), 24u);
  EXPECT_EQ(io::checked_bytes({}, 8, kWhere, "shape"), 8u);
  EXPECT_EQ(io::checked_bytes({0, int64_t(1) << 40}, 4, kWhere, "shape"), 0u);
  EXPECT_DUET_ERROR(io::checked_bytes({0, int64_t(1) << 40, int64_t(1) << 30}, 4, kWhere, "shape"),
                    "too many elements");
  EXPECT_DUET_ERROR(io::checked_bytes({int64_t(1) << 61}, 4, kWhere, "shape"), "too many elements");
  EXPECT_DUET_ERROR(io::checked_bytes(Shape(65, 1), 4, kWhere, "shape"), "65 dims");
  // What the loaders accept, the core accepts: a checked shape never fails in Tensor::empty.
  for (const Shape& s : std::vector<Shape>{{int64_t(1) << 30, int64_t(1) << 30, 7},
                                           {0, int64_t(1) << 60},
                                           {int64_t(1) << 59},
                                           {3, 0, 5}}) {
    for (uint64_t item : {1, 2, 4, 8}) {
      bool loader_ok = true;
      try {
        io::checked_bytes(s, item, kWhere, "shape");
      } catch (const Error&) {
        loader_ok = false;
      }
      if (loader_ok) {
        EXPECT_NO_THROW(checked_nbytes(s, item, "core")) << shape_str(s) << " x " << item;
      }
    }
  }
}

TEST(Reader, JsonDepthScan) {
  auto end = [](const std::string& t, int depth = 3) {
    return io::check_json_depth(t, depth, kWhere, "why");
  };
  EXPECT_EQ(end("{}   "), 2u);
  EXPECT_EQ(end(R"({"a": [1, {"b": 2}]}  x)"), 20u);
  EXPECT_EQ(end(R"("[[[[" )"), 6u);
  EXPECT_EQ(end(R"({"a\"[[[[": "\\", "b": "]]]]"})"), 30u);
  EXPECT_EQ(end("  42 "), 5u);  // a scalar: no end known, the parser's business
  EXPECT_DUET_ERROR(end("[[[[1]]]]"), "nests more than 3 levels deep at byte 3", "(why)");
  EXPECT_DUET_ERROR(end("{} [[[[1]]]]"), "at byte 6");  // past the first value too
  EXPECT_DUET_ERROR(end("1 [[[["), "at byte 5");
  EXPECT_DUET_ERROR(end("]]]][[[["), "at byte 7");  // stray closers do not buy depth
  EXPECT_NO_THROW(end(std::string(100000, '[') + "\"", 100000));
}

TEST(Reader, FileSourceErrors) {
  TempDir dir;
  EXPECT_DUET_ERROR(io::FileSource(dir.file("none"), kWhere), "cannot open the file",
                    "No such file");
  EXPECT_DUET_ERROR(io::FileSource(dir.path().string(), kWhere, "a weights file"),
                    "is a directory (expected a weights file)");
  write_file(dir.file("f"), "abc");
  io::FileSource f(dir.file("f"), kWhere);
  char buf[8];
  EXPECT_DUET_ERROR(f.read_at(1, buf, 3, "the tail"),
                    "is truncated: the tail needs 3 bytes at offset 1, got 2");
  EXPECT_DUET_ERROR(f.expect_end("nothing"), "has 3 bytes after nothing");
}

TEST(Reader, SafeWriterCommitsOrLeavesNothing) {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  write_file(path, "old");
  {
    io::SafeWriter w(path, kWhere);
    w.write("new contents", 12);
    EXPECT_EQ(read_file(path), "old");  // nothing visible before commit
    EXPECT_TRUE(std::filesystem::exists(w.temp_path()));
    EXPECT_EQ(w.temp_path().rfind(path + ".tmp.", 0), 0u);
    w.commit();
  }
  EXPECT_EQ(read_file(path), "new contents");
  std::string tmp;
  {
    io::SafeWriter w(path, kWhere);
    w.write("abandoned", 9);
    tmp = w.temp_path();
  }  // destroyed without commit: the temporary goes, the file stays
  EXPECT_FALSE(std::filesystem::exists(tmp));
  EXPECT_EQ(read_file(path), "new contents");
  // Two writers at once get different temporaries.
  io::SafeWriter a(path, kWhere), b(path, kWhere);
  EXPECT_NE(a.temp_path(), b.temp_path());
  EXPECT_DUET_ERROR(io::SafeWriter(dir.file("no/dir/x"), kWhere), "cannot open a temporary file",
                    "No such file");
}

// The hostile tests' memory bound is real: a claim-sized allocation fails in the child.
TEST(Reader, HostileHarnessCatchesClaimSizedAllocations) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's allocator aborts (with a report) instead of bad_alloc";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "AddressSanitizer's allocator aborts (with a report) instead of bad_alloc";
#endif
#endif
  const HostileResult big = run_hostile([] {
    std::vector<char> v(size_t{1} << 30, 1);  // 1 GiB, what a trusting loader would do
    // Observable, so clang -O3 cannot elide the new/delete pair.
    asm volatile("" : : "r"(v.data()) : "memory");
    if (v[12345] != 1) throw Error("unreachable");
  });
  EXPECT_EQ(big.status, 2) << big.message;  // std::bad_alloc
  const HostileResult small = run_hostile([] {
    std::vector<char> v(size_t{16} << 20, 1);
    throw Error(std::string("fine ") + v[7]);
  });
  EXPECT_EQ(small.status, 0) << small.message;
  EXPECT_EQ(small.message, std::string("fine ") + char(1));
}

}  // namespace

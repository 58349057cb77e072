// The reader layer every duet file loader shares (safetensors, IDX; later checkpoints, ONNX):
// byte sources that read exactly what a file holds, claims checked before they allocate,
// checked size arithmetic, a JSON nesting pre-scan, bounded quoting, crash-safe writes.
//
//   auto src = io::open_source(path, "read_idx: 'a.gz': ");  // raw or gzip, sniffed
//   unsigned char head[4];
//   src->read_exact(head, 4, "the magic number");           // throws "truncated ..." if short
//   uint64_t n = io::checked_mul(rows, cols, where, "the element count");
//   std::vector<unsigned char> data = io::read_claim(*src, n, "the data of shape (..)");
//   src->expect_end("the data");                              // trailing bytes, gzip trailer
//
//   io::check_json_depth(header_text, 3, where, "safetensors headers need 3");
//   throw Error(cat(where, "key ", io::quote(key), " ..."));  // at most kQuoteChars
//
//   io::SafeWriter w(path, where);  // path.tmp.XXXXXX in the same directory
//   w.write(bytes, n);
//   w.commit();                     // fsync, rename over path, fsync the directory
//
// Rules (docs/security.md): no allocation is sized by a file's claim alone. A raw file's
// claim is checked against the bytes the file still holds; a gzip stream is inflated in
// bounded chunks and a claim grows its buffer only as data arrives (at most twice the
// bytes actually decompressed + 1 MiB); the gzip CRC-32 and length trailer are verified;
// concatenated gzip members are accepted (RFC 1952), any other byte after the last member
// is an error. Every error is a duet::Error starting with `where` (the loader and file).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duet/error.h"
#include "duet/shape.h"

namespace duet::io {

// Longest quote of a file's value in an error message, and the most dims a loader accepts.
constexpr size_t kQuoteChars = 200;
constexpr int64_t kMaxRank = 64;

// `s` as a double-quoted string of at most `max_chars` characters: printable ASCII as is,
// other bytes and quotes escaped (\xNN, \", \\), cut with `..." (N bytes)` when longer.
std::string quote(std::string_view s, size_t max_chars = kQuoteChars);
// A message from elsewhere (a parser's, which may repeat a whole token of the file) cut the
// same way, without the quotes: at most `max_chars` characters, control bytes escaped.
std::string cut(std::string_view s, size_t max_chars = 2 * kQuoteChars);

// "read_idx: '<path>': " with a path longer than 300 characters shortened to its tail.
std::string where_of(const char* fn, const std::string& path);

// a * b, or throws `where` + what + " overflows (a x b does not fit in 63 bits)".
uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& where, const char* what);
uint64_t checked_add(uint64_t a, uint64_t b, const std::string& where, const char* what);

// Elements of `shape` (dims >= 0) times `itemsize`, checked: throws naming the shape when the
// byte count, or the strides (the product of the non-zero dims, a zero dim does not excuse
// the others), do not fit in int64. Also rejects more than kMaxRank dims.
uint64_t checked_bytes(const Shape& shape, uint64_t itemsize, const std::string& where,
                       const char* what);

// A sequential source of a file's bytes. Every read that comes up short throws
// "<where>is truncated: <what> needs N bytes at offset O, got M".
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes (fewer only at the end of the data); returns how many.
  virtual size_t read_some(void* dst, size_t n) = 0;
  // Bytes still to come when known (raw files); nullopt for compressed streams.
  virtual std::optional<uint64_t> remaining() const = 0;
  // Throws unless the data ends here: no byte left; for gzip, also a verified trailer and
  // nothing but further members after it. `what` names what was read last.
  virtual void expect_end(const char* what) = 0;
  virtual bool compressed() const = 0;

  void read_exact(void* dst, size_t n, const char* what);
  uint64_t offset() const { return offset_; }  // bytes delivered so far
  const std::string& where() const { return where_; }

 protected:
  explicit ByteSource(std::string where) : where_(std::move(where)) {}
  uint64_t offset_ = 0;
  std::string where_;
};

// A file read with open/pread: any path open(2) accepts, /proc/self/fd/N of a memfd included.
// Throws naming the path for a missing file, a directory or an unreadable one.
class FileSource final : public ByteSource {
 public:
  FileSource(const std::string& path, std::string where, const char* expected = "a file");
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  size_t read_some(void* dst, size_t n) override;
  std::optional<uint64_t> remaining() const override { return size_ - offset_; }
  void expect_end(const char* what) override;
  bool compressed() const override { return false; }

  uint64_t size() const { return size_; }
  void seek(uint64_t offset);  // offset <= size()
  // Reads exactly n bytes at `offset` (does not move the read position).
  void read_at(uint64_t offset, void* dst, size_t n, const char* what);

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The inflated bytes of a gzip file (zlib inflate, 64 KiB input chunks).
class GzipSource final : public ByteSource {
 public:
  explicit GzipSource(std::unique_ptr<FileSource> file);
  ~GzipSource() override;
  GzipSource(const GzipSource&) = delete;
  GzipSource& operator=(const GzipSource&) = delete;

  size_t read_some(void* dst, size_t n) override;
  std::optional<uint64_t> remaining() const override { return std::nullopt; }
  void expect_end(const char* what) override;
  bool compressed() const override { return true; }

 private:
  bool refill();             // false at the end of the file
  void start_next_member();  // after a member's trailer: another member, the end, or garbage
  std::unique_ptr<FileSource> file_;
  struct State;
  std::unique_ptr<State> z_;
  std::vector<unsigned char> in_;
  bool ended_ = false;  // the last member's trailer was verified and the file has no more
};

// Opens `path` as a FileSource, or a GzipSource when it starts with the gzip magic 1f 8b.
std::unique_ptr<ByteSource> open_source(const std::string& path, const std::string& where,
                                        const char* expected = "a file");

// Reads a claimed `n` bytes: a raw source must still hold them (checked before allocating);
// a compressed one fills a buffer grown in chunks as data arrives. Throws
// "<where>truncated: expected N bytes of <what>, got M" otherwise.
std::vector<unsigned char> read_claim(ByteSource& src, uint64_t n, const std::string& what);

// Throws when JSON `text` nests arrays/objects deeper than `max_depth`, before any parser
// recurses into it (string contents and escapes are skipped correctly). Also returns the
// offset just past the top-level value (text.size() when the text does not close it), so a
// caller can check what follows.
size_t check_json_depth(std::string_view text, int max_depth, const std::string& where,
                        const char* why);

// Writes a file so that a crash at any moment leaves either the previous file at `path` or the
// complete new one: a temporary `path.tmp.XXXXXX` (mkstemp, unique per writer, in the same
// directory), fsync, rename over `path`, fsync of the directory. Destroyed without commit()
// (an exception, a failed write), it removes the temporary. Every failure throws naming it.
class SafeWriter {
 public:
  SafeWriter(const std::string& path, std::string where);
  ~SafeWriter();
  SafeWriter(const SafeWriter&) = delete;
  SafeWriter& operator=(const SafeWriter&) = delete;

  void write(const void* data, size_t n);
  void commit();
  const std::string& temp_path() const { return tmp_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  std::string path_, tmp_, where_;
  int fd_ = -1;
};

}  // namespace duet::io

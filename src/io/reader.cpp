// The loaders' reader layer: file and gzip byte sources, claims, checked sizes, the JSON depth
// pre-scan, quoting, and the crash-safe writer (see reader.h).
#include "io/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace duet::io {
namespace {

constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr size_t kGzipChunk = size_t{1} << 16;   // compressed bytes read at a time
constexpr size_t kClaimChunk = size_t{1} << 20;  // first buffer of a compressed claim

std::string errno_str(int err) {
  return err ? std::strerror(err) : "unknown error";
}

// Drops a UTF-8 character that a cut left incomplete at the end of `out`.
void drop_partial_utf8(std::string& out) {
  size_t cont = 0;  // continuation bytes at the end
  while (cont < out.size() && cont < 4 &&
         (static_cast<unsigned char>(out[out.size() - 1 - cont]) & 0xC0) == 0x80)
    ++cont;
  if (cont == out.size()) return;
  const unsigned char lead = static_cast<unsigned char>(out[out.size() - 1 - cont]);
  if (lead < 0xC0) return;  // ASCII (or stray continuation bytes): nothing was split
  const size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  if (cont + 1 < len) out.resize(out.size() - 1 - cont);
}

// `s` with control bytes escaped, cut after about max_chars output characters; `quoted`: also
// escape " and \ and wrap the result in double quotes.
std::string bounded(std::string_view s, size_t max_chars, bool quoted) {
  std::string out = quoted ? "\"" : "";
  const size_t limit = max_chars + out.size();  // output characters, escapes included
  size_t i = 0;
  for (; i < s.size() && out.size() < limit; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (quoted && (c == '"' || c == '\\')) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else if (c >= 0x80) {
      out += static_cast<char>(c);  // UTF-8 passes through; a cut never splits a character
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (i < s.size()) {
    drop_partial_utf8(out);
    return out + (quoted ? "\"" : "") + "... (" + std::to_string(s.size()) + " bytes)";
  }
  return quoted ? out + "\"" : out;
}

}  // namespace

std::string quote(std::string_view s, size_t max_chars) {
  return bounded(s, max_chars, true);
}

std::string cut(std::string_view s, size_t max_chars) {
  return bounded(s, max_chars, false);
}

std::string where_of(const char* fn, const std::string& path) {
  constexpr size_t kMaxPath = 300;
  const std::string p =
      path.size() <= kMaxPath ? path : "..." + path.substr(path.size() - kMaxPath);
  return detail::cat(fn, ": '", p, "': ");
}

uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& where, const char* what) {
  uint64_t r = 0;
  DUET_CHECK(!__builtin_mul_overflow(a, b, &r) && r <= kInt64Max, where, what, " overflows (", a,
             " x ", b, " does not fit in int64)");
  return r;
}

uint64_t checked_add(uint64_t a, uint64_t b, const std::string& where, const char* what) {
  uint64_t r = 0;
  DUET_CHECK(!__builtin_add_overflow(a, b, &r) && r <= kInt64Max, where, what, " overflows (", a,
             " + ", b, " does not fit in int64)");
  return r;
}

uint64_t checked_bytes(const Shape& shape, uint64_t itemsize, const std::string& where,
                       const char* what) {
  DUET_CHECK(static_cast<int64_t>(shape.size()) <= kMaxRank, where, what, " has ", shape.size(),
             " dims (duet reads at most ", kMaxRank, ")");
  // The strides multiply every non-zero dim; the byte count multiplies all of them.
  uint64_t span = itemsize;
  bool zero = false;
  for (int64_t d : shape) {
    DUET_ASSERT(d >= 0, "checked_bytes: negative dim");
    if (d == 0) {
      zero = true;
      continue;
    }
    uint64_t r = 0;
    const bool overflow =
        __builtin_mul_overflow(span, static_cast<uint64_t>(d), &r) || r > kInt64Max;
    DUET_CHECK(!overflow, where, what, " ", shape_str(shape),
               " has too many elements: the product of its non-zero dims times ", itemsize,
               " bytes does not fit in int64");
    span = r;
  }
  return zero ? 0 : span;
}

void ByteSource::read_exact(void* dst, size_t n, const char* what) {
  const uint64_t at = offset_;
  size_t got = 0;
  auto* p = static_cast<unsigned char*>(dst);
  while (got < n) {
    const size_t r = read_some(p + got, n - got);
    if (r == 0) break;
    got += r;
  }
  DUET_CHECK(got == n, where_, "is truncated: ", what, " needs ", n, " bytes at offset ", at,
             ", got ", got, compressed() ? " (of the decompressed data)" : "");
}

// ---- FileSource ------------------------------------------------------------------------------

FileSource::FileSource(const std::string& path, std::string where, const char* expected)
    : ByteSource(std::move(where)) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  DUET_CHECK(fd_ >= 0, where_, "cannot open the file (", errno_str(errno), ")");
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    throw Error(detail::cat(where_, "cannot read the file size (", errno_str(err), ")"));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw Error(detail::cat(where_,
                            S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file",
                            " (expected ", expected, ")"));
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

size_t FileSource::read_some(void* dst, size_t n) {
  n = static_cast<size_t>(std::min<uint64_t>({n, size_ - offset_, size_t{1} << 30}));
  if (n == 0) return 0;
  ssize_t r;
  do {
    r = ::pread(fd_, dst, n, static_cast<off_t>(offset_));
  } while (r < 0 && errno == EINTR);
  DUET_CHECK(r >= 0, where_, "cannot read ", n, " bytes at offset ", offset_, " (",
             errno_str(errno), ")");
  offset_ += static_cast<uint64_t>(r);
  return static_cast<size_t>(r);
}

void FileSource::expect_end(const char* what) {
  DUET_CHECK(offset_ == size_, where_, "has ", size_ - offset_, " bytes after ", what,
             " (at offset ", offset_, " of ", size_, "; expected the end of the file)");
}

void FileSource::seek(uint64_t offset) {
  DUET_ASSERT(offset <= size_, "FileSource::seek past the end");
  offset_ = offset;
}

void FileSource::read_at(uint64_t offset, void* dst, size_t n, const char* what) {
  const uint64_t saved = offset_;
  seek(std::min(offset, size_));
  try {
    read_exact(dst, n, what);
  } catch (...) {
    offset_ = saved;
    throw;
  }
  offset_ = saved;
}

// ---- GzipSource ------------------------------------------------------------------------------

struct GzipSource::State {
  z_stream z{};
  bool member_done = false;  // inflate returned Z_STREAM_END (CRC and length verified)
  bool truncated = false;    // the file ended inside a member
};

GzipSource::GzipSource(std::unique_ptr<FileSource> file)
    : ByteSource(file->where()), file_(std::move(file)), z_(std::make_unique<State>()) {
  in_.resize(kGzipChunk);
  // 16 + MAX_WBITS: gzip framing only; zlib verifies the CRC-32 and ISIZE trailer itself.
  const int rc = inflateInit2(&z_->z, 16 + MAX_WBITS);
  DUET_CHECK(rc == Z_OK, where_, "cannot start gzip decompression (zlib error ", rc, ")");
}

GzipSource::~GzipSource() {
  inflateEnd(&z_->z);
}

bool GzipSource::refill() {
  z_stream& z = z_->z;
  if (z.avail_in > 0 && z.next_in != in_.data()) std::memmove(in_.data(), z.next_in, z.avail_in);
  const size_t kept = z.avail_in;
  const size_t r = file_->read_some(in_.data() + kept, in_.size() - kept);
  z.next_in = in_.data();
  z.avail_in = static_cast<uInt>(kept + r);
  return r > 0;
}

void GzipSource::start_next_member() {
  z_stream& z = z_->z;
  while (z.avail_in < 2 && refill()) {
  }
  if (z.avail_in == 0) {
    ended_ = true;
    return;
  }
  const uint64_t at = file_->offset() - z.avail_in;
  DUET_CHECK(z.avail_in >= 2 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b, where_, "has ",
             file_->size() - at, " bytes of trailing garbage after the gzip stream (at byte ", at,
             " of ", file_->size(), "; expected the end of the file or another gzip member)");
  DUET_CHECK(inflateReset(&z) == Z_OK, where_, "cannot restart gzip decompression");
  z_->member_done = false;
}

size_t GzipSource::read_some(void* dst, size_t n) {
  z_stream& z = z_->z;
  size_t got = 0;
  auto* out = static_cast<unsigned char*>(dst);
  while (got < n && !ended_ && !z_->truncated) {
    if (z_->member_done) {
      start_next_member();
      continue;
    }
    if (z.avail_in == 0 && !refill()) {
      z_->truncated = true;
      break;
    }
    const size_t want = std::min<size_t>(n - got, size_t{1} << 30);
    z.next_out = out + got;
    z.avail_out = static_cast<uInt>(want);
    const int rc = inflate(&z, Z_NO_FLUSH);
    got += want - z.avail_out;
    if (rc == Z_STREAM_END) {
      z_->member_done = true;
    } else if (rc == Z_BUF_ERROR) {
      // No progress with the input at hand: more input is needed.
      if (!refill()) z_->truncated = true;
    } else if (rc != Z_OK) {
      const uint64_t at = file_->offset() - z.avail_in;
      throw Error(detail::cat(where_, "is corrupt: gzip data error (",
                              z.msg ? z.msg : "zlib error " + std::to_string(rc),
                              ") near compressed byte ", at, " of ", file_->size()));
    }
    if (got > 0) break;  // deliver what arrived; the caller asks again
  }
  offset_ += got;
  return got;
}

void GzipSource::expect_end(const char* what) {
  unsigned char extra[64];
  const size_t r = read_some(extra, sizeof(extra));
  DUET_CHECK(r == 0, where_, "holds more data after ", what, " (at decompressed offset ",
             offset_ - r, "; expected the end of the data)");
  DUET_CHECK(!z_->truncated, where_,
             "is truncated: the gzip stream ends without its end marker or its 8-byte trailer "
             "(CRC-32 and length) at compressed byte ",
             file_->size(), " (an interrupted download?)");
}

std::unique_ptr<ByteSource> open_source(const std::string& path, const std::string& where,
                                        const char* expected) {
  auto file = std::make_unique<FileSource>(path, where, expected);
  unsigned char magic[2] = {0, 0};
  if (file->size() >= 2) {
    file->read_at(0, magic, 2, "the gzip magic");
    if (magic[0] == 0x1f && magic[1] == 0x8b) return std::make_unique<GzipSource>(std::move(file));
  }
  return file;
}

std::vector<unsigned char> read_claim(ByteSource& src, uint64_t n, const std::string& what) {
  std::vector<unsigned char> buf;
  if (const std::optional<uint64_t> left = src.remaining()) {
    DUET_CHECK(n <= *left, src.where(), "is truncated: expected ", n, " bytes of ", what, ", got ",
               *left);
    buf.resize(static_cast<size_t>(n));
    src.read_exact(buf.data(), buf.size(), what.c_str());
    return buf;
  }
  // Compressed: grow as the data arrives, never to the claim up front.
  size_t have = 0;
  while (have < n) {
    const uint64_t step = std::min<uint64_t>(n - have, std::max(kClaimChunk, have));
    buf.resize(have + static_cast<size_t>(step));
    size_t r = 0;
    while (have < buf.size() && (r = src.read_some(buf.data() + have, buf.size() - have)) > 0)
      have += r;
    if (have < buf.size()) break;
  }
  DUET_CHECK(have == n, src.where(), "is truncated: expected ", n, " bytes of ", what, ", got ",
             have, " (the decompressed data ends early)");
  return buf;
}

size_t check_json_depth(std::string_view text, int max_depth, const std::string& where,
                        const char* why) {
  // The whole text is scanned, also past the end of the first value: no parser ever sees a
  // nesting deeper than max_depth, whatever comes before or after.
  int depth = 0;
  bool in_string = false, started = false;
  size_t end = std::string_view::npos;  // just past the first top-level value
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is
      } else if (c == '"') {
        in_string = false;
        if (depth == 0 && end == std::string_view::npos) end = i + 1;  // a top-level string
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        started = true;
        break;
      case '{':
      case '[':
        started = true;
        DUET_CHECK(++depth <= max_depth, where, "the JSON nests more than ", max_depth,
                   " levels deep at byte ", i, " (", why, ")");
        break;
      case '}':
      case ']':
        if (--depth <= 0) {
          depth = 0;  // a stray bracket is the parser's business
          if (end == std::string_view::npos) end = i + 1;
        }
        break;
      case ' ':
      case '\t':
      case '\n':
      case '\r':
        break;
      default:
        // A top-level scalar (or garbage): the parser's business; it has no end we know.
        if (depth == 0 && !started && end == std::string_view::npos) end = text.size();
        started = true;
        break;
    }
  }
  return end == std::string_view::npos ? text.size() : end;
}

// ---- SafeWriter ------------------------------------------------------------------------------

namespace {

// The process umask, read without changing it (umask(2) would race with other threads).
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Umask:", 0) == 0)
      return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
  return 022;
}

}  // namespace

SafeWriter::SafeWriter(const std::string& path, std::string where)
    : path_(path), where_(std::move(where)) {
  std::string pattern = path + ".tmp.XXXXXX";
  fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);
  DUET_CHECK(fd_ >= 0, where_, "cannot open a temporary file for writing next to it ('", pattern,
             "': ", errno_str(errno), ")");
  tmp_ = pattern;
  // mkstemp creates 0600; a saved file gets the usual 0666 & ~umask.
  if (::fchmod(fd_, 0666 & ~current_umask()) != 0)
    fail("cannot set the mode of '" + tmp_ + "'", errno);
}

SafeWriter::~SafeWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

void SafeWriter::fail(const std::string& what, int err) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
  throw Error(detail::cat(where_, what, " (", errno_str(err), ")"));
}

void SafeWriter::write(const void* data, size_t n) {
  DUET_ASSERT(fd_ >= 0, "SafeWriter::write after commit or failure");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t r = ::write(fd_, p, std::min<size_t>(n, size_t{1} << 30));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail("cannot write '" + tmp_ + "'", r < 0 ? errno : ENOSPC);
    p += r;
    n -= static_cast<size_t>(r);
  }
}

void SafeWriter::commit() {
  DUET_ASSERT(fd_ >= 0, "SafeWriter::commit twice");
  if (::fsync(fd_) != 0) fail("cannot fsync '" + tmp_ + "'", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("cannot close '" + tmp_ + "'", errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail("cannot rename '" + tmp_ + "' to '" + path_ + "'", errno);
  tmp_.clear();  // renamed: nothing to remove any more
  // The rename itself is durable only once the directory is synced.
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;  // the file is in place; a directory we cannot open we cannot sync
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  DUET_CHECK(rc == 0 || err == EINVAL || err == EROFS, where_, "saved, but cannot fsync its ",
             "directory '", dir.string(), "' (", errno_str(err), ")");
}

}  // namespace duet::io

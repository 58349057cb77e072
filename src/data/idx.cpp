// read_idx: one reader for raw and gzip IDX files (zlib's gzread passes raw files through).
#include "duet/data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"

namespace duet::data {
namespace {

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08X", v);
  return buf;
}

// Bytes per element for an IDX type code, 0 when the code is unknown.
int element_size(int type) {
  switch (type) {
    case 0x08:
    case 0x09:
      return 1;
    case 0x0B:
      return 2;
    case 0x0C:
    case 0x0D:
      return 4;
    case 0x0E:
      return 8;
    default:
      return 0;
  }
}

class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    std::error_code ec;
    DUET_CHECK(std::filesystem::exists(path, ec), "read_idx: cannot open '", path,
               "': no such file");
    DUET_CHECK(!std::filesystem::is_directory(path, ec), "read_idx: '", path,
               "' is a directory (expected an IDX file)");
    f_ = gzopen(path.c_str(), "rb");
    DUET_CHECK(f_ != nullptr, "read_idx: cannot open '", path, "': ", std::strerror(errno));
    gzbuffer(f_, 1 << 18);
  }
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; returns how many were read (fewer at end of file or truncation).
  size_t read(void* dst, size_t n) {
    size_t got = 0;
    char* p = static_cast<char*>(dst);
    while (got < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - got, size_t{1} << 30));
      const int r = gzread(f_, p + got, chunk);
      if (r < 0) {
        int err = 0;
        const char* msg = gzerror(f_, &err);
        // A gzip stream that ends early is a truncated file, not a corrupt one.
        if (err == Z_BUF_ERROR) return got;
        throw Error(detail::cat("read_idx: '", path_, "' is corrupt: ", msg));
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

uint32_t be32(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

// The big-endian element at p as double (every IDX type fits exactly).
template <int Type>
double load(const unsigned char* p) {
  if constexpr (Type == 0x08) {
    return p[0];
  } else if constexpr (Type == 0x09) {
    return static_cast<int8_t>(p[0]);
  } else if constexpr (Type == 0x0B) {
    return static_cast<int16_t>((uint16_t{p[0]} << 8) | p[1]);
  } else if constexpr (Type == 0x0C) {
    return static_cast<int32_t>(be32(p));
  } else if constexpr (Type == 0x0D) {
    uint32_t u = be32(p);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  } else {
    uint64_t u = (uint64_t{be32(p)} << 32) | be32(p + 4);
    double d;
    std::memcpy(&d, &u, 8);
    return d;
  }
}

template <int Type, class T>
void convert(const unsigned char* src, T* dst, int64_t n, double scale, double shift) {
  constexpr int esize = Type == 0x08 || Type == 0x09 ? 1 : Type == 0x0B ? 2 : Type == 0x0E ? 8 : 4;
  const bool affine = scale != 1.0 || shift != 0.0;
  parallel::parallel_for_if(n > (1 << 16), 0, n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const double v = load<Type>(src + i * esize);
      dst[i] = static_cast<T>(affine ? v * scale + shift : v);
    }
  });
}

template <class T>
void convert_any(int type, const unsigned char* src, T* dst, int64_t n, double scale,
                 double shift) {
  switch (type) {
    case 0x08:
      convert<0x08>(src, dst, n, scale, shift);
      break;
    case 0x09:
      convert<0x09>(src, dst, n, scale, shift);
      break;
    case 0x0B:
      convert<0x0B>(src, dst, n, scale, shift);
      break;
    case 0x0C:
      convert<0x0C>(src, dst, n, scale, shift);
      break;
    case 0x0D:
      convert<0x0D>(src, dst, n, scale, shift);
      break;
    case 0x0E:
      convert<0x0E>(src, dst, n, scale, shift);
      break;
    default:
      DUET_ASSERT(false, "unknown IDX type ", type);
  }
}

}  // namespace

Tensor read_idx(const std::string& path, const IdxOptions& opt) {
  DUET_CHECK(opt.dtype == int64 || is_floating(opt.dtype), "read_idx: dtype ", opt.dtype,
             " is not supported (expected int64, float32 or float64)");
  DUET_CHECK(is_floating(opt.dtype) || (opt.scale == 1.0 && opt.shift == 0.0),
             "read_idx: scale/shift need a floating dtype (got ", opt.dtype, ")");
  GzFile file(path);

  unsigned char header[4];
  size_t got = file.read(header, 4);
  DUET_CHECK(got == 4, "read_idx: '", path, "' is truncated: the header needs 4 bytes, got ", got);
  const uint32_t magic = be32(header);
  const int type = header[2], rank = header[3];
  const bool ok = header[0] == 0 && header[1] == 0 && element_size(type) != 0 &&
                  (opt.expected_rank < 0 ? rank >= 1 : rank == opt.expected_rank);
  if (!ok) {
    std::string expected =
        opt.expected_rank >= 0
            ? hex32(((element_size(type) ? type : 0x08) << 8) | static_cast<int>(opt.expected_rank))
            : "0x0000TTRR";
    throw Error(detail::cat("read_idx: '", path, "' has bad magic number ", hex32(magic),
                            " (expected ", expected,
                            ": two zero bytes, a type code TT in {08, 09, 0B, 0C, 0D, 0E} and "
                            "the rank RR",
                            opt.expected_rank >= 0 ? "" : " >= 1", ")"));
  }

  std::vector<unsigned char> dims_raw(4 * static_cast<size_t>(rank));
  got = file.read(dims_raw.data(), dims_raw.size());
  DUET_CHECK(got == dims_raw.size(), "read_idx: '", path, "' is truncated: the ", rank,
             " dimension sizes need ", dims_raw.size(), " bytes, got ", got);
  Shape shape(rank);
  for (int i = 0; i < rank; ++i) shape[i] = be32(&dims_raw[4 * i]);

  const int64_t n = numel(shape);
  const size_t nbytes = static_cast<size_t>(n) * element_size(type);
  DUET_CHECK(opt.dtype != int64 || type < 0x0D, "read_idx: '", path,
             "' holds floating-point data (type ", hex32(type).substr(8),
             "); expected an integer "
             "type for dtype int64");
  std::vector<unsigned char> raw(nbytes);
  got = file.read(raw.data(), nbytes);
  DUET_CHECK(got == nbytes, "read_idx: '", path, "' is truncated: expected ", nbytes,
             " bytes of data for shape ", shape_str(shape), ", got ", got);

  Tensor out = Tensor::empty(shape, opt.dtype);
  detail::dispatch_all(opt.dtype, "read_idx", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>)
      convert_any(type, raw.data(), out.data<T>(), n, opt.scale, opt.shift);
  });
  return out;
}

}  // namespace duet::data

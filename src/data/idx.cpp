// read_idx: one reader for raw and gzip IDX files, on the loaders' reader layer (io/reader.h):
// the header's claim is checked before anything is allocated for it.
#include "duet/data/idx.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "io/reader.h"

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
  const std::string where = io::where_of("read_idx", path);
  const std::unique_ptr<io::ByteSource> file = io::open_source(path, where, "an IDX file");

  unsigned char header[4];
  file->read_exact(header, 4, "the header");
  const uint32_t magic = be32(header);
  const int type = header[2], rank = header[3];
  const bool ok = header[0] == 0 && header[1] == 0 && element_size(type) != 0 &&
                  (opt.expected_rank < 0 ? rank >= 1 : rank == opt.expected_rank);
  if (!ok) {
    std::string expected =
        opt.expected_rank >= 0
            ? hex32(((element_size(type) ? type : 0x08) << 8) | static_cast<int>(opt.expected_rank))
            : "0x0000TTRR";
    throw Error(detail::cat(where, "bad magic number ", hex32(magic), " (expected ", expected,
                            ": two zero bytes, a type code TT in {08, 09, 0B, 0C, 0D, 0E} and "
                            "the rank RR",
                            opt.expected_rank >= 0 ? "" : " >= 1", ")"));
  }
  DUET_CHECK(rank <= io::kMaxRank, where, "the magic number ", hex32(magic), " announces rank ",
             rank, " (duet reads at most ", io::kMaxRank, " dims)");

  std::vector<unsigned char> dims_raw(4 * static_cast<size_t>(rank));
  const std::string dims_what = detail::cat("the ", rank, " dimension sizes");
  file->read_exact(dims_raw.data(), dims_raw.size(), dims_what.c_str());
  Shape shape(rank);
  for (int i = 0; i < rank; ++i) shape[i] = be32(&dims_raw[4 * i]);

  DUET_CHECK(opt.dtype != int64 || type < 0x0D, where, "holds floating-point data (type ",
             hex32(type).substr(8), "); expected an integer type for dtype int64");
  // The claim: checked arithmetic (no wrap), then checked against what the file holds before
  // a byte is allocated for it; the result tensor's size must fit as well.
  const uint64_t nbytes = io::checked_bytes(shape, element_size(type), where, "shape");
  io::checked_bytes(shape, dtype_size(opt.dtype), where, "the result of shape");
  const int64_t n = static_cast<int64_t>(nbytes / element_size(type));
  const std::string data_what = "data for shape " + shape_str(shape);
  const std::vector<unsigned char> raw = io::read_claim(*file, nbytes, data_what);
  file->expect_end(data_what.c_str());

  Tensor out = Tensor::empty(shape, opt.dtype);
  detail::dispatch_all(opt.dtype, "read_idx", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>)
      convert_any(type, raw.data(), out.data<T>(), n, opt.scale, opt.shift);
  });
  return out;
}

}  // namespace duet::data

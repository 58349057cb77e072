// libFuzzer target: duet::data::read_idx on hostile IDX files, raw and gzip.
//
// Input layout: byte 0 picks how the payload reaches the file, byte 1 the IdxOptions, byte 2
// a corruption for mode 2, bytes 3.. the payload (an IDX file, or garbage):
//   mode 0: the payload as a raw file
//   mode 1: the payload gzip-compressed here (a valid stream of a hostile IDX file)
//   mode 2: as mode 1, then cut short or with one byte changed (trailer, CRC, length, data)
//   mode 3: a valid 10-byte gzip header followed by the payload as deflate data (the
//           inflater itself on garbage)
// Either read_idx returns a tensor consistent with the file or it throws duet::Error.
//
//   scripts/fuzz.sh fuzz_idx 60
#include <zlib.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "duet/data/idx.h"
#include "duet/memory.h"
#include "duet/threads.h"
#include "fuzz_util.h"

namespace {

std::vector<uint8_t> gzip(const uint8_t* data, size_t size, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    duet::fuzz::bug("fuzz_idx", "deflateInit2 failed");
  std::vector<uint8_t> out(deflateBound(&z, size) + 32);
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int r = deflate(&z, Z_FINISH);
  if (r != Z_STREAM_END) duet::fuzz::bug("fuzz_idx", "deflate failed");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

duet::data::IdxOptions options_from(uint8_t b) {
  static const duet::DType dtypes[] = {duet::int64, duet::float32, duet::float64, duet::bool_};
  static const double values[] = {1.0,  1.0 / 255, 0.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
                                  HUGE_VAL, 1e308, -0.0};
  duet::data::IdxOptions o;
  o.dtype = dtypes[b & 3];
  o.expected_rank = static_cast<int64_t>((b >> 2) & 7) - 1;  // -1 (any) .. 6
  const int v = (b >> 5) & 7;
  if (v != 0 && duet::is_floating(o.dtype)) {  // int64 with a scale is an error: keep it rare
    o.scale = values[v];
    if (v == 7) o.shift = values[4];
  } else if (v == 7) {
    o.scale = 0.5;  // int64 + scale: must be an error
  }
  return o;
}

}  // namespace

extern "C" int DUET_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  duet::fuzz::MemFile* file = &duet::fuzz::loader_file();
  if (size < 3) return 0;
  const int mode = data[0] & 3, level = (data[0] >> 2) & 3;
  const duet::data::IdxOptions opt = options_from(data[1]);
  const uint8_t corrupt = data[2];
  const uint8_t* payload = data + 3;
  const size_t n = size - 3;

  std::vector<uint8_t> bytes;
  switch (mode) {
    case 0:
      bytes.assign(payload, payload + n);
      break;
    case 1:
    case 2:
      bytes = gzip(payload, n, level == 0 ? 0 : level == 1 ? 1 : level == 2 ? 6 : 9);
      if (mode == 2 && !bytes.empty()) {
        if (corrupt & 0x80) {  // cut 1..32 bytes off the end (the trailer first)
          const size_t cut = std::min<size_t>(bytes.size(), (corrupt & 31u) + 1);
          bytes.resize(bytes.size() - cut);
        } else {  // change one byte counted from the end (trailer, then the deflate data)
          const size_t at = (corrupt & 63u) % bytes.size();
          bytes[bytes.size() - 1 - at] ^= static_cast<uint8_t>(1u << ((corrupt >> 6) & 1 ? 7 : 0));
        }
      }
      break;
    default: {
      static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
      bytes.assign(header, header + 10);
      bytes.insert(bytes.end(), payload, payload + n);
    }
  }
  file->write(bytes.data(), bytes.size());

  duet::fuzz::expect_result_or_error("read_idx", [&] {
    const duet::Tensor t = duet::data::read_idx(file->path(), opt);
    DUET_FUZZ_EXPECT(t.numel() == duet::numel(t.shape()), "read_idx", "numel disagrees with shape");
    DUET_FUZZ_EXPECT(t.dtype() == opt.dtype, "read_idx", "wrong dtype");
    DUET_FUZZ_EXPECT(opt.expected_rank < 0 || t.dim() == opt.expected_rank, "read_idx",
                     "wrong rank");
    // Every element came from at least one byte of the (decompressed) payload.
    const size_t limit = mode <= 1 ? n : 1032 * n + 64;  // corrupt deflate data may grow
    DUET_FUZZ_EXPECT(static_cast<size_t>(t.numel()) <= limit, "read_idx",
                     std::to_string(t.numel()) + " elements from " + std::to_string(n) +
                         " payload bytes");
    double sum = 0;
    for (double v : t.to_vector<double>()) sum += v;
    (void)sum;
  });
  return 0;
}

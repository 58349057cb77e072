#include "tensorboard/png.h"

#if DUET_HAVE_LIBPNG
#include <png.h>
#endif
#include <zlib.h>

#include <cstring>
#include <vector>

#include "duet/error.h"

namespace duet::tensorboard::detail {
namespace {

void check_image(int64_t height, int64_t width, int64_t channels, const std::string& where) {
  DUET_CHECK(channels == 1 || channels == 3 || channels == 4, where, ": ", channels,
             " channels, expected 1, 3 or 4");
  // PNG allows 2^31 - 1 per side; libpng's default limit is 1,000,000, and so is ours.
  DUET_CHECK(height > 0 && width > 0 && height <= 1000000 && width <= 1000000, where, ": image of ",
             height, " x ", width, " pixels, expected 1 to 1,000,000 per side");
}

void put_be32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}

void put_chunk(std::string& out, const char type[5], const std::string& data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  std::string body = std::string(type, 4) + data;
  out += body;
  put_be32(out, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                                            static_cast<uInt>(body.size()))));
}

}  // namespace

std::string encode_png_zlib(const uint8_t* hwc, int64_t height, int64_t width, int64_t channels,
                            const std::string& where) {
  check_image(height, width, channels, where);
  // Filtered rows: a 0 byte (filter "None") then the row's bytes. Up to 1e6 x 4e6 + 1e6 bytes:
  // within size_t, and checked against zlib's uLong below.
  const size_t row = static_cast<size_t>(width * channels);
  const size_t raw_size = static_cast<size_t>(height) * (row + 1);
  DUET_CHECK(raw_size <= static_cast<size_t>(static_cast<uLong>(-1)) / 2, where, ": image of ",
             height, " x ", width, " x ", channels, " bytes is too large for zlib");
  std::vector<uint8_t> raw(raw_size);
  for (int64_t y = 0; y < height; ++y) {
    uint8_t* dst = raw.data() + static_cast<size_t>(y) * (row + 1);
    dst[0] = 0;
    std::memcpy(dst + 1, hwc + static_cast<size_t>(y) * row, row);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw_size));
  std::string packed(packed_size, '\0');
  int rc = compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size, raw.data(),
                     static_cast<uLong>(raw_size), Z_DEFAULT_COMPRESSION);
  DUET_CHECK(rc == Z_OK, where, ": zlib cannot compress the ", height, " x ", width, " x ",
             channels, " image (zlib error ", rc, ")");
  packed.resize(packed_size);
  std::string ihdr;
  put_be32(ihdr, static_cast<uint32_t>(width));
  put_be32(ihdr, static_cast<uint32_t>(height));
  ihdr.push_back(8);                                          // bit depth
  ihdr.push_back(channels == 1 ? 0 : channels == 3 ? 2 : 6);  // gray, RGB, RGBA
  ihdr.append(3, '\0');                                       // compression, filter, interlace: 0
  std::string out = "\x89PNG\r\n\x1a\n";
  put_chunk(out, "IHDR", ihdr);
  put_chunk(out, "IDAT", packed);
  put_chunk(out, "IEND", "");
  return out;
}

#if DUET_HAVE_LIBPNG

bool png_uses_libpng() {
  return true;
}

std::string encode_png(const uint8_t* hwc, int64_t height, int64_t width, int64_t channels,
                       const std::string& where) {
  check_image(height, width, channels, where);
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  std::string out;
  // First call: the PNG's size (no buffer); second: the PNG.
  bool ok = png_image_write_to_memory(&image, nullptr, &size, 0, hwc, 0, nullptr) != 0;
  if (ok) {
    out.resize(size);
    ok = png_image_write_to_memory(&image, out.data(), &size, 0, hwc, 0, nullptr) != 0;
  }
  if (!ok) {
    std::string msg = image.message;
    png_image_free(&image);
    DUET_CHECK(false, where, ": libpng cannot encode the ", height, " x ", width, " x ", channels,
               " image: ", msg);
  }
  out.resize(size);
  return out;
}

#else

bool png_uses_libpng() {
  return false;
}

std::string encode_png(const uint8_t* hwc, int64_t height, int64_t width, int64_t channels,
                       const std::string& where) {
  return encode_png_zlib(hwc, height, width, channels, where);
}

#endif

}  // namespace duet::tensorboard::detail

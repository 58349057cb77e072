// PNG encoding: through libpng (its simplified write API) when the build found it, otherwise
// through duet's own minimal encoder over zlib (also compiled with libpng, and tested
// against libpng's decoder), so that a machine without libpng-dev still builds duet.
#pragma once

#include <cstdint>
#include <string>

namespace duet::tensorboard::detail {

// 8-bit pixels, row-major, channels interleaved (H, W, C), C = 1 (gray), 3 (RGB) or 4 (RGBA),
// 1 to 1,000,000 pixels per side. Throws duet::Error naming `where` when encoding fails.
std::string encode_png(const uint8_t* hwc, int64_t height, int64_t width, int64_t channels,
                       const std::string& where);
// The zlib encoder: one IDAT chunk, filter type 0 on every row.
std::string encode_png_zlib(const uint8_t* hwc, int64_t height, int64_t width, int64_t channels,
                            const std::string& where);
// Whether encode_png uses libpng.
bool png_uses_libpng();

}  // namespace duet::tensorboard::detail

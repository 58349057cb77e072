// format_bytes: the one way duet prints a size.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "duet/memory.h"

namespace duet {

std::string format_bytes(int64_t bytes) {
  const char* sign = bytes < 0 ? "-" : "";
  // |INT64_MIN| does not fit in int64: work in double from here (exact below 2^53).
  const double mag = std::fabs(static_cast<double>(bytes));
  if (mag < 1024) return sign + std::to_string(std::llabs(bytes)) + " B";
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = mag / 1024;
  int u = 0;
  // 3 significant digits; a value that rounds to 1024 moves to the next unit.
  while (u < 5 && v >= 1023.5) {
    v /= 1024;
    ++u;
  }
  const int decimals = v < 9.995 ? 2 : (v < 99.95 ? 1 : 0);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%.*f %s", sign, decimals, v, kUnits[u]);
  return buf;
}

}  // namespace duet

#include "duet/error.h"

namespace duet::detail {

void internal_error(const char* file, int line, const std::string& msg) {
  throw Error(cat("internal error at ", file, ":", line, ": ", msg,
                  " (this is a bug in duet, please report it)"));
}

}  // namespace duet::detail

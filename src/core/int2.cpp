// Int2 printing.
#include "duet/int2.h"

#include <ostream>

namespace duet {

std::string Int2::str() const {
  return "(" + std::to_string((*this)[0]) + ", " + std::to_string((*this)[1]) + ")";
}

std::ostream& operator<<(std::ostream& os, const Int2& v) {
  return os << v.str();
}

}  // namespace duet

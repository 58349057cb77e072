// PLACEHOLDER (being written): the nchwc_layout pass (passes.h).
#include "graph/passes.h"

namespace duet::detail {

void nchwc_layout(PassContext&) {}

}  // namespace duet::detail

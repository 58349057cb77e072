// The fixed pass pipeline.
#include "graph/passes.h"

namespace duet::detail {

const std::vector<Pass>& pass_pipeline() {
  static const std::vector<Pass> passes = {
      {"dce", dead_code_elimination},
  };
  return passes;
}

}  // namespace duet::detail

// The fixed pass pipeline. Each pass is a small function in its own file (pass_*.cpp).
//
// reorders_math marks passes whose result may differ in the last bits from the unfused graph
// (skipped with CompileOptions::bit_exact). CSE, DCE and constant folding compute the same
// values; epilogue fusion computes the same float operations in the same order; batch-norm
// folding multiplies the weights by the BN scale before the convolution instead of after;
// update fusion computes the weight gradient in row blocks (GEMM blocking may differ).
// schedule_collectives runs after schedule_updates (which puts each update right after the
// reduced gradient it reads) and only reorders nodes. hoist and inplace only annotate nodes
// (the same kernels run on the same values), so they run last, on the final node order;
// CompileOptions::keep_intermediates skips every pass but those marked before_autodiff.
// "autocast" (CompileOptions::autocast) has two slots: before autodiff (compile() runs it
// there for training graphs and with bit_exact: the graph then computes what eager autocast
// does, bit for bit), and, for other eval graphs, after fold_batch_norm and fuse_epilogue (the
// weights are folded in float32 and rounded once, fused blocks run in low precision; the
// rounding points differ from eager's, hence reorders_math). disabled_passes = {"autocast"}
// turns both off. "cancel_casts" runs after "cse" so that merged duplicate casts are one.
#include "graph/passes.h"

namespace duet::detail {

const std::vector<Pass>& pass_pipeline() {
  static const std::vector<Pass> passes = {
      {"autocast", insert_autocast, false, false, /*before_autodiff=*/true},
      {"dce", dead_code_elimination},
      {"cse", common_subexpression_elimination},
      {"cancel_casts", cancel_casts},
      {"constant_folding", constant_folding},
      {"fold_batch_norm", fold_batch_norm, /*eval_only=*/true, /*reorders_math=*/true},
      {"commute_relu_pool", commute_relu_pool},
      {"fuse_epilogue", fuse_epilogues},
      {"autocast", insert_autocast_late, /*eval_only=*/true, /*reorders_math=*/true},
      {"nchwc_layout", nchwc_layout, /*eval_only=*/true, /*reorders_math=*/true},
      {"fuse_updates", fuse_updates, /*eval_only=*/false, /*reorders_math=*/true},
      {"dce", dead_code_elimination},
      {"schedule_updates", schedule_updates},
      {"schedule_collectives", schedule_collectives},
      {"hoist", hoist_constants, /*eval_only=*/true},
      {"inplace", mark_inplace},
  };
  return passes;
}

}  // namespace duet::detail

// prepare(): kernel lookup, contiguous copies of inputs and the workspace query, once for
// eager dispatch, the graph planner and the executor.
#include "ops/prepare.h"

namespace duet {
namespace {

// " (node %3 at net.cpp:14)" in graph mode, "" in eager mode.
std::string where(const CallSite& site) {
  if (site.node < 0) return "";
  return detail::cat(" (node %", site.node, " at ", site.loc ? site.loc->str() : "<unknown>", ")");
}

}  // namespace

PreparedCall prepare(const OpDef& op, std::span<const Tensor> inputs,
                     std::span<const TensorMeta> outputs, const Attrs& attrs, Device device,
                     CallSite site) {
  PreparedCall pc;
  // A graph node's output metas may come from a pass rather than call_op's infer (which checks
  // them in every mode): check them here too, once per node at compile time.
  if (site.node >= 0)
    for (const TensorMeta& m : outputs)
      checked_nbytes(m.shape, dtype_size(m.dtype), op.name.c_str());
  if (op.view) return pc;  // no kernel: an alias (or, in a graph, a copy into its buffer)
  const int slot = static_cast<int>(device.type);
  pc.kernel = op.kernels[slot];
  DUET_CHECK(pc.kernel, op.name, ": no kernel for device ", device, where(site));
  if (!op.strided_inputs) {
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (inputs[k].is_contiguous()) continue;
      DUET_CHECK(!has_bit(op.mutates_inputs, k), op.name, ": input ", k,
                 " is written in place and must be contiguous", where(site));
      pc.copies.push_back(static_cast<int32_t>(k));
    }
  }
  if (WorkspaceFn wsfn = op.workspace[slot]) {
    // A copy has the same shape, dtype and device as what it copies: the metas are the same.
    std::vector<TensorMeta> in_metas;
    in_metas.reserve(inputs.size());
    for (const Tensor& t : inputs) in_metas.push_back({t.shape(), t.dtype(), t.device()});
    pc.workspace_bytes = wsfn(in_metas, outputs, attrs);
  }
  return pc;
}

}  // namespace duet

// call_op: the single entry point every op goes through, in both modes.
//
//   inputs -> checks (arity, defined, one device) -> infer (shapes, dtypes, user errors)
//     symbolic inputs: hand over to the graph recorder
//     concrete inputs: view fn, or prepare (ops/prepare.h: kernel, contiguous copies,
//                      workspace), allocate outputs + run the device kernel
//   -> record a tape node when grad mode is on and an input requires grad
#include "amp/autocast.h"
#include "core/copy.h"
#include "core/tensor_impl.h"
#include "duet/autograd.h"
#include "eager/tape.h"
#include "ops/op_def.h"
#include "ops/prepare.h"
#include "ops/promotion.h"
#include "profiler/hooks.h"

namespace duet {
namespace {

RecordHook g_record_hook = nullptr;
thread_local OpObserver g_observer = nullptr;
thread_local void* g_observer_ctx = nullptr;

}  // namespace

void set_record_hook(RecordHook hook) {
  g_record_hook = hook;
}
void set_op_observer(OpObserver observer, void* ctx) {
  g_observer = observer;
  g_observer_ctx = ctx;
}

std::vector<Tensor> call_op(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs) {
  const char* name = op.name.c_str();
  DUET_CHECK(op.num_inputs < 0 || static_cast<int>(inputs.size()) == op.num_inputs, name, ": got ",
             inputs.size(), " inputs, expected ", op.num_inputs);
  // Autocast (duet/amp.h): inputs cast as op.autocast asks, as recorded cast ops.
  if (op.autocast != AutocastPolicy::none) detail::autocast_inputs(op, inputs);
  // Mixed dtypes of a binary op: promote_types (ops/promotion.h), as recorded cast ops.
  detail::promote_inputs(op, inputs);
  std::vector<TensorMeta> metas;
  metas.reserve(inputs.size());
  bool symbolic = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    DUET_CHECK(inputs[i].defined(), name, ": input ", i, " is an undefined tensor");
    metas.push_back({inputs[i].shape(), inputs[i].dtype(), inputs[i].device()});
    symbolic = symbolic || inputs[i].is_symbolic();
    DUET_CHECK(metas[i].device == metas[0].device, name, ": input 0 is on ", metas[0].device,
               " but input ", i, " is on ", metas[i].device, "; expected all inputs on one device");
  }
  check_low_precision(op, metas, "input");  // OpDef::low_precision = false
  std::vector<TensorMeta> out_metas;
  try {
    out_metas = op.infer({name, metas, attrs});
  } catch (const AttrError& e) {  // attrs made by hand (or from a file): name the op
    throw Error(detail::cat(name, ": ", e.what()));
  }
  DUET_ASSERT(static_cast<int>(out_metas.size()) == op.num_outputs, name, " inferred ",
              out_metas.size(), " outputs");
  // Every output shape an op infers, in every mode, is a valid shape whose byte size fits
  // (duet/shape.h); the error names the op.
  for (const TensorMeta& m : out_metas) checked_nbytes(m.shape, dtype_size(m.dtype), name);
  check_low_precision(op, out_metas, "output");

  if (symbolic || recording_active()) {
    DUET_CHECK(g_record_hook, name,
               ": got a symbolic (graph-mode) input but graph mode is not "
               "available in this build");
    return g_record_hook(op, inputs, attrs, std::move(out_metas));
  }
  // An event from here to the return when a profiler records (duet/profiler.h); otherwise
  // one relaxed atomic load.
  profiler::detail::Scope profile_scope;
  if (profiler::detail::recording()) {
    const Device dev =
        !out_metas.empty() ? out_metas[0].device : (metas.empty() ? cpu : metas[0].device);
    profile_scope.start(profiler::EventKind::op, name, &inputs, dev);
  }

  for (size_t i = 0; i < inputs.size(); ++i) {
    if (has_bit(op.mutates_inputs, i)) {
      DUET_CHECK(!(inputs[i].requires_grad() && grad_enabled()), name, ": input ", i,
                 " is written in place but requires grad; run it inside duet::NoGradGuard");
    }
  }

  std::vector<Tensor> outputs;
  if (op.view) {
    outputs.push_back(op.view(inputs[0], out_metas[0], attrs));
  } else {
    const Device dev =
        !out_metas.empty() ? out_metas[0].device : (metas.empty() ? cpu : metas[0].device);
    // The kernel, the inputs it needs copied to contiguous ones, its scratch, the float32
    // round trip of a low-precision call (ops/prepare.h).
    const PreparedCall pc = prepare(op, inputs, out_metas, attrs, dev);
    std::vector<Tensor> kin = inputs;
    for (int32_t k : pc.copies) kin[k] = detail::contiguous_copy(kin[k]);
    outputs.reserve(out_metas.size());
    for (auto& m : out_metas)
      outputs.emplace_back(detail::make_impl(m.shape, m.dtype, m.device, name));
    std::shared_ptr<detail::Storage> ws;
    if (pc.workspace_bytes) ws = std::make_shared<detail::Storage>(pc.workspace_bytes, dev);
    try {
      run_prepared(pc, {attrs, kin, outputs, ws ? ws->data : nullptr, pc.workspace_bytes});
    } catch (const AttrError& e) {  // an attribute only the kernel reads
      throw Error(detail::cat(name, ": ", e.what()));
    }
    for (size_t i = 0; i < inputs.size(); ++i)
      if (has_bit(op.mutates_inputs, i)) inputs[i].impl()->storage->version++;
  }
  if (op.grad) detail::record_tape(op, attrs, inputs, outputs);
  if (g_observer) g_observer(g_observer_ctx, op, outputs);
  return outputs;
}

namespace infer {

std::vector<TensorMeta> same_as_input(const InferArgs& a) {
  return {a.inputs[0]};
}

void expect_floating(const InferArgs& a, int i) {
  if (is_floating(a.inputs[i].dtype)) return;
  // The floating dtypes this op accepts (OpDef::low_precision), looked up only on failure.
  const OpDef* op = find_op(a.op);
  throw Error(detail::cat(
      a.op, ": input ", i, " has dtype ", a.inputs[i].dtype, " (expected ",
      op && !op->low_precision ? "float32 or float64" : "float32, float64, bfloat16 or float16",
      ")"));
}

void expect_rank(const InferArgs& a, int i, int64_t rank, const char* what) {
  DUET_CHECK(static_cast<int64_t>(a.inputs[i].shape.size()) == rank, a.op, ": ", what,
             " has shape ", shape_str(a.inputs[i].shape), " (rank ", a.inputs[i].shape.size(),
             "); expected rank ", rank);
}

void expect_same_dtype(const InferArgs& a, int i, int j) {
  DUET_CHECK(a.inputs[i].dtype == a.inputs[j].dtype, a.op, ": input ", i, " has dtype ",
             a.inputs[i].dtype, " but input ", j, " has dtype ", a.inputs[j].dtype,
             " (expected the same dtype)");
}

}  // namespace infer
}  // namespace duet

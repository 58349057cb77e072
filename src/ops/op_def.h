// The op table: every op is one OpDef, declared once and used by eager and graph mode.
//
// An OpDef holds
//   - the op's name and arity;
//   - shape/dtype inference (`infer`), which owns every user-facing error about the inputs;
//   - a gradient rule (`grad`) written only with the public ops in duet/ops/*.h. Given
//     concrete tensors it runs eagerly (the tape); given symbolic tensors the same calls
//     append backward nodes to a graph (autodiff). That is the "one builder interface";
//   - which inputs/outputs the gradient rule needs saved (`save_inputs`, `save_outputs`);
//   - kernels per device: `kernels[DeviceType]`, writing into preallocated outputs,
//     or a `view` function for ops whose output aliases input 0.
//
// How to add an op: docs/adding_an_op.md.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "duet/attrs.h"
#include "core/recording.h"
#include "duet/tensor.h"
#include "kernel_api.h"
#include "ops/op_list.h"

namespace duet {

struct InferArgs {
  const char* op;  // the op's name, for messages
  std::span<const TensorMeta> inputs;
  const Attrs& attrs;
};
using InferFn = std::vector<TensorMeta> (*)(const InferArgs&);

struct GradArgs {
  const Attrs& attrs;
  std::vector<Tensor> inputs;   // saved inputs; undefined where not saved
  std::vector<Tensor> outputs;  // saved outputs; undefined where not saved
  std::vector<TensorMeta> input_metas;
  std::vector<Tensor> grad_outputs;  // undefined where no gradient reached that output
  std::vector<bool> needs_input_grad;
};
// Returns one gradient per input (undefined where not needed or not differentiable).
using GradFn = std::vector<Tensor> (*)(const GradArgs&);

// For view ops: builds output 0 as an alias of input 0 (eager) from the inferred meta.
using ViewFn = Tensor (*)(const Tensor& input, const TensorMeta& out, const Attrs& attrs);

// What an op is, beyond its fields: passes and tests select ops by trait, never by name.
// view, random, in-place-able and mutating are read from the fields that define them
// (OpDef::has derives them), so they are declared once.
enum class OpTrait : uint32_t {
  elementwise = 1u << 0,       // output element i depends on input element i (broadcast aside)
  unary = 1u << 1,             // one tensor input
  binary = 1u << 2,            // two tensor inputs, broadcast together
  activation = 1u << 3,        // a nonlinearity of the activation list (ops/activation.h)
  epilogue = 1u << 4,          // fusable as a conv2d/linear epilogue (kernels/activations.h)
  backward = 1u << 5,          // a gradient op (emitted by gradient rules, not by models)
  optimizer_update = 1u << 6,  // an optimizer's in-place update (sgd_step_, adam_step_, ...)
  reduction = 1u << 7,         // reduces axes
  fused = 1u << 8,             // a fusion made by a graph pass (conv2d_fused, add_relu, ...)
  copying_view = 1u << 9,      // a view op whose view function copies a non-contiguous input
  collective = 1u << 10,       // communicates with the other ranks (src/ops/collective_ops.cpp):
                               // never removed, merged, folded or hoisted by a pass
  cpu_only = 1u << 11,         // runs on the CPU only (the blocked-layout ops of CPU graph
                               // inference, src/ops/nchwc_ops.cpp): no backend registers a
                               // kernel for another device
  // Derived from the fields (never written in `traits`):
  view = 1u << 24,     // view != null
  random = 1u << 25,   // random
  inplace = 1u << 26,  // inplace_input >= 0
  mutates = 1u << 27,  // mutates_inputs != 0
};
constexpr uint32_t operator|(OpTrait a, OpTrait b) {
  return static_cast<uint32_t>(a) | static_cast<uint32_t>(b);
}
constexpr uint32_t operator|(uint32_t a, OpTrait b) {
  return a | static_cast<uint32_t>(b);
}

// Multiply-accumulates of one call (convolutions and matrix products; 0 for the rest).
using MacsFn = int64_t (*)(std::span<const TensorMeta> inputs, std::span<const TensorMeta> outputs,
                           const Attrs& attrs);

// Sample inputs for the table-driven op test (tests/ops_table/): a few shapes and attrs per
// op, including odd sizes, broadcasting and empty tensors where they make sense.
enum class SampleInit : uint8_t {
  normal,    // N(0, 1)
  positive,  // uniform in [0.5, 2) (log, sqrt, rsqrt, pow with a fractional exponent)
  uniform,   // uniform in [lo, hi)
  index,     // int64 uniform in [0, hi) (labels, class indices)
  integers,  // whole numbers in [lo, hi) in the floating dtype (ties for comparisons)
  boolean,   // bool, about half true
  ones,      // all 1 (a step counter, a learning rate)
};
struct SampleInput {
  Shape shape{};
  // The dtype of a floating input is the test's dtype (float32 or float64) unless `fixed`.
  DType dtype = DType::float32;
  SampleInit init = SampleInit::normal;
  double lo = 0, hi = 1;
  bool fixed = false;  // dtype is exactly `dtype` (int64 labels, bool masks)
};
enum class SampleCheck : uint32_t {
  no_grad = 1u << 0,          // skip the finite-difference gradient check (kinks, ties)
  no_inplace = 1u << 1,       // skip the aliased-output check
  no_graph = 1u << 2,         // skip eager vs graph (ops a graph never records)
  float64_only = 1u << 3,     // the sample is meaningful only in float64
  no_float64_ref = 1u << 4,   // forward has no float64 kernel to compare against
  no_cuda = 1u << 5,          // skip the GPU-vs-CPU check (the sample names a device)
};
struct OpSample {
  std::vector<SampleInput> inputs{};
  Attrs attrs{};
  uint32_t skip = 0;  // SampleCheck bits
  // Outputs the gradient check differentiates (bit k: output k; integer outputs never are):
  // ops whose gradient rule ignores some outputs (batch statistics) clear their bits.
  uint32_t diff_outputs = ~0u;
  double tol = 0;  // float32 forward tolerance against float64 (0: the test's default)
  const char* note = "";
};
using SamplesFn = std::vector<OpSample> (*)();

// Low-precision support (bfloat16, float16; docs/mixed_precision.md): bits of
// OpDef::native_low_precision, per device type.
inline constexpr uint8_t kNativeBFloat16 = 1u << 0;
inline constexpr uint8_t kNativeFloat16 = 1u << 1;

// What autocast (duet/amp.h) does to an op's floating inputs, declared with the op and read by
// both eager autocast (call_op) and the graph's autocast pass, like torch.autocast's op lists.
enum class AutocastPolicy : uint8_t {
  none,     // inputs run as they come (binary ops promote mixed dtypes: promote_types)
  lower,    // float32 inputs are cast to the autocast dtype (convolutions, linear, matmul)
  float32,  // low-precision inputs are cast to float32 (reductions, softmax, losses, norms)
};

struct OpDef {
  OpId id = OpId::count;  // the op's entry in src/ops/op_list.h
  std::string name{};     // op_name(id), filled in by DUET_DEFINE_OP
  int num_inputs = 1;     // -1: variadic
  int num_outputs = 1;
  uint32_t traits = 0;  // OpTrait bits (the declared ones)
  InferFn infer = nullptr;
  GradFn grad = nullptr;        // null: not differentiable
  uint32_t save_inputs = 0;     // bit i: grad needs input i
  uint32_t save_outputs = 0;    // bit i: grad needs output i
  uint32_t mutates_inputs = 0;  // bit i: the kernel writes input i in place (side effect)
  uint32_t nondiff_inputs = 0;  // bit i: input i never gets a gradient (labels, indices)
  bool strided_inputs = false;  // kernels accept non-contiguous inputs
  bool random = false;          // reads a generator (never CSE'd or constant-folded)
  ViewFn view = nullptr;
  // One kernel per device type. The CPU slot is filled here; other devices' slots are filled
  // by their backend when it loads (register_kernel).
  std::array<KernelFn, kNumDeviceTypes> kernels{};
  // Scratch bytes per device type (null: none).
  std::array<WorkspaceFn, kNumDeviceTypes> workspace{};
  // Output 0 may share the buffer of input `inplace_input` (elementwise kernels that read
  // element i before writing element i); -1: never. Used by the graph's in-place pass.
  int inplace_input = -1;
  MacsFn macs = nullptr;        // null: 0 multiply-accumulates
  SamplesFn samples = nullptr;  // null: the op-table test fails (every op needs samples)
  // bfloat16 / float16. false: a low-precision floating input is an error naming the op and
  // the dtype (call_op checks it before infer). true: per device type, the kernel handles the
  // dtypes whose bits are set in native_low_precision (kNativeBFloat16, kNativeFloat16) itself;
  // for any other low-precision call prepare() runs the float32 kernel: the low-precision
  // floating inputs are converted to float32 in the workspace first and the outputs rounded
  // back to their dtypes (round to nearest even) after (run_prepared, ops/prepare.h).
  bool low_precision = true;
  std::array<uint8_t, kNumDeviceTypes> native_low_precision{};
  AutocastPolicy autocast = AutocastPolicy::none;

  bool has(OpTrait t) const {
    switch (t) {
      case OpTrait::view: return view != nullptr;
      case OpTrait::random: return random;
      case OpTrait::inplace: return inplace_input >= 0;
      case OpTrait::mutates: return mutates_inputs != 0;
      default: return (traits & static_cast<uint32_t>(t)) != 0;
    }
  }
  bool is(OpId other) const { return id == other; }
};

// Runs (eager) or records (graph) one op. Outputs in op order.
std::vector<Tensor> call_op(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs = {});
inline Tensor call_op1(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs = {}) {
  return call_op(op, std::move(inputs), attrs)[0];
}

// Graph mode installs this: when any input is symbolic, or while a graph is being built or
// traced on this thread (recording_active()), call_op hands the call over.
using RecordHook = std::vector<Tensor> (*)(const OpDef&, std::vector<Tensor>&, const Attrs&,
                                           std::vector<TensorMeta>&&);
void set_record_hook(RecordHook hook);
// recording_active() / set_recording_active(): core/recording.h.

// Eager-mode observer (thread-local): called after every eager op with its outputs. The
// equivalence checker uses it to line eager values up with graph nodes.
using OpObserver = void (*)(void* ctx, const OpDef& op, const std::vector<Tensor>& outputs);
void set_op_observer(OpObserver observer, void* ctx);

// The op table: every OpDef, indexed by OpId, complete from the first call (op_table.cpp).
std::span<const OpDef* const> all_ops();
const OpDef& op_def(OpId id);
// Same as all_ops(), as a vector (kept for callers that iterate over "registered" ops).
std::vector<const OpDef*> registered_ops();
// By name ("relu"); null when there is no such op.
const OpDef* find_op(const std::string& name);
// A backend fills its device's slots for one op when it loads (the CUDA backend library
// registers every CUDA kernel this way). Replaces what was there.
// native_low_precision: OpDef::native_low_precision's bits for that device.
void register_kernel(OpId id, DeviceType device, KernelFn kernel, WorkspaceFn workspace = nullptr,
                     uint8_t native_low_precision = 0);

// Helpers for infer functions.
namespace infer {
std::vector<TensorMeta> same_as_input(const InferArgs& a);  // one output like input 0
void expect_floating(const InferArgs& a, int input);
void expect_rank(const InferArgs& a, int input, int64_t rank, const char* what);
void expect_same_dtype(const InferArgs& a, int i, int j);
}  // namespace infer

}  // namespace duet

// Defines `const OpDef& ACCESSOR()` returning the op's function-local static OpDef, with its
// name filled in from its id. The accessor is listed beside the id in src/ops/op_list.h.
#define DUET_DEFINE_OP(accessor, ...)                  \
  const ::duet::OpDef& accessor() {                    \
    static ::duet::OpDef* def = [] {                   \
      auto* d = new ::duet::OpDef(__VA_ARGS__);        \
      d->name = ::duet::op_name(d->id);                \
      return d;                                        \
    }();                                               \
    return *def;                                       \
  }

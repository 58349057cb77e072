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
#include "duet/tensor.h"

namespace duet {

struct TensorMeta {
  Shape shape;
  DType dtype = DType::float32;
  Device device;
  bool operator==(const TensorMeta&) const = default;
};

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

struct KernelArgs {
  const Attrs& attrs;
  std::span<const Tensor> inputs;  // contiguous unless the op sets strided_inputs
  std::span<Tensor> outputs;       // preallocated, contiguous, shapes from infer
  void* workspace = nullptr;       // workspace_bytes(...) bytes, 64-byte aligned, or null
  size_t workspace_size = 0;
  // Random ops on a GPU in graph mode: the 64-bit seed lives at this device address (the
  // executor writes it before each run, so a captured CUDA Graph draws fresh numbers on
  // every replay); null: the seed is attrs "seed".
  const uint64_t* device_seed = nullptr;
};
using KernelFn = void (*)(const KernelArgs&);

// Scratch memory a kernel needs beyond its outputs (im2col buffers, ...). Eager mode takes it
// from the device allocator per call; graph mode plans it into the arena once.
using WorkspaceFn = size_t (*)(std::span<const TensorMeta> inputs,
                               std::span<const TensorMeta> outputs, const Attrs& attrs);

// Runs a workspace query that may be missing from this build (DUET_CUDA_FN(...) is null
// without CUDA): 0 then.
inline size_t query_workspace(WorkspaceFn fn, std::span<const TensorMeta> inputs,
                              std::span<const TensorMeta> outputs, const Attrs& attrs) {
  return fn ? fn(inputs, outputs, attrs) : 0;
}

// For view ops: builds output 0 as an alias of input 0 (eager) from the inferred meta.
using ViewFn = Tensor (*)(const Tensor& input, const TensorMeta& out, const Attrs& attrs);

struct OpDef {
  std::string name;
  int num_inputs = 1;  // -1: variadic
  int num_outputs = 1;
  InferFn infer = nullptr;
  GradFn grad = nullptr;        // null: not differentiable
  uint32_t save_inputs = 0;     // bit i: grad needs input i
  uint32_t save_outputs = 0;    // bit i: grad needs output i
  uint32_t mutates_inputs = 0;  // bit i: the kernel writes input i in place (side effect)
  uint32_t nondiff_inputs = 0;  // bit i: input i never gets a gradient (labels, indices)
  bool strided_inputs = false;  // kernels accept non-contiguous inputs
  bool random = false;          // reads a generator (never CSE'd or constant-folded)
  ViewFn view = nullptr;
  std::array<KernelFn, kNumDeviceTypes> kernels{};
  WorkspaceFn workspace_bytes = nullptr;
  // Output 0 may share the buffer of input `inplace_input` (elementwise kernels that read
  // element i before writing element i); -1: never. Used by the graph's in-place rewrite.
  int inplace_input = -1;
};

// Bit i of an OpDef mask (save_inputs, mutates_inputs, ...); false past bit 31, so variadic
// ops (concat of 40 tensors) can ask about any input.
inline bool has_bit(uint32_t mask, size_t i) {
  return i < 32 && ((mask >> i) & 1u) != 0;
}

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
bool recording_active();
void set_recording_active(bool active);

// Eager-mode observer (thread-local): called after every eager op with its outputs. The
// equivalence checker uses it to line eager values up with graph nodes.
using OpObserver = void (*)(void* ctx, const OpDef& op, const std::vector<Tensor>& outputs);
void set_op_observer(OpObserver observer, void* ctx);

// Every OpDef that has been used (registered on first call of its accessor).
std::vector<const OpDef*> registered_ops();
const OpDef* find_op(const std::string& name);
void register_op(const OpDef* op);

// Helpers for infer functions.
namespace infer {
std::vector<TensorMeta> same_as_input(const InferArgs& a);  // one output like input 0
void expect_floating(const InferArgs& a, int input);
void expect_rank(const InferArgs& a, int input, int64_t rank, const char* what);
void expect_same_dtype(const InferArgs& a, int i, int j);
}  // namespace infer

}  // namespace duet

// An op's CUDA kernel (declared in kernels/cuda/*.h), or null in a build without the CUDA
// backend, so an op lists its kernels per device in one place:
//   .kernels = {cpu_kernels::relu, DUET_CUDA_KERNEL(relu)}
#ifdef DUET_WITH_CUDA
#define DUET_CUDA_KERNEL(fn) (&::duet::cuda_kernels::fn)
#else
#define DUET_CUDA_KERNEL(fn) nullptr
#endif
// Any other CUDA-backend function an op file needs (e.g. a workspace query, declared beside
// the kernels in kernels/cuda/*.h), resolved the same way:
//   constexpr WorkspaceFn cuda_ws = DUET_CUDA_FN(conv2d_workspace);  // null without CUDA
#define DUET_CUDA_FN(fn) DUET_CUDA_KERNEL(fn)

// Defines `const OpDef& NAME_op()` returning a registered, function-local static OpDef.
#define DUET_DEFINE_OP(fn_name, ...)            \
  const ::duet::OpDef& fn_name() {              \
    static const ::duet::OpDef* def = [] {      \
      auto* d = new ::duet::OpDef(__VA_ARGS__); \
      ::duet::register_op(d);                   \
      return d;                                 \
    }();                                        \
    return *def;                                \
  }

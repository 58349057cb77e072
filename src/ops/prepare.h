// One kernel call, prepared: which kernel runs, which inputs must first be copied into
// contiguous buffers, and how many scratch bytes the kernel needs. Eager dispatch (call_op),
// the graph planner and the graph executor all ask prepare(), so the three agree by
// construction and a "no kernel" error reads the same in both modes.
//
//   // eager (src/ops/dispatch.cpp)
//   PreparedCall pc = prepare(op, inputs, out_metas, attrs, dev);
//   for (int32_t k : pc.copies) kin[k] = detail::contiguous_copy(kin[k]);
//   run_prepared(pc, {attrs, kin, outputs, workspace_of(pc.workspace_bytes), pc.workspace_bytes});
//
//   // graph (src/graph/planner.cpp): the inputs are the values' layouts, storage-less
//   // tensors with the shape, strides and offset each value has in its buffer
//   PreparedCall pc = prepare(op, layouts, node.outputs, node.attrs, dev, {i, &node.loc});
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "duet/source_location.h"
#include "ops/op_def.h"

namespace duet {

// Where a graph node came from, named in errors; empty in eager mode.
struct CallSite {
  int32_t node = -1;
  const SourceLoc* loc = nullptr;
};

struct PreparedCall {
  // The device's kernel; null for a view op (OpDef::view builds the alias, or the graph
  // copies a non-contiguous input into the view's own buffer: ops with OpTrait::copying_view).
  KernelFn kernel = nullptr;
  // Inputs that are not contiguous while the kernel needs them so (the op does not set
  // strided_inputs), ascending: the caller copies each into a contiguous buffer of the same
  // shape first.
  std::vector<int32_t> copies;
  // Scratch the kernel needs (OpDef::workspace[device type]; 0 without a query), plus, for a
  // low-precision call computed in float32, the float32 copies below.
  size_t workspace_bytes = 0;
  // A low-precision call of a kernel that computes in float32 (OpDef::native_low_precision
  // lacks the dtype): `upcast` lists the inputs converted to float32 before the kernel (and,
  // for inputs it writes in place, rounded back after), `downcast` the outputs the kernel
  // writes as float32 and that are then rounded to their real dtype. The float32 buffers sit
  // in the workspace from byte 0; the kernel's own scratch starts at kernel_workspace_offset.
  // Empty for every other call: run_prepared is then just the kernel call.
  std::vector<int32_t> upcast, downcast;
  size_t kernel_workspace_offset = 0;
  // The round trip's bookkeeping (set only where upcast or downcast is not empty): the
  // float32 buffers' byte offsets in the workspace (64-byte aligned, one per entry of upcast
  // and downcast, in that order), the device's cast kernel and the attrs that cast each way,
  // the device, and the op (its mutates_inputs says which upcast inputs are written back).
  std::vector<size_t> upcast_offset, downcast_offset;
  KernelFn cast = nullptr;
  Attrs to_float32, to_bfloat16, to_float16;
  Device device;
  const OpDef* op = nullptr;
};

// Runs a prepared call: the kernel, with the float32 round trip of a low-precision call
// computed in float32 (`args` as for the kernel: the real inputs and outputs, the whole
// workspace). Eager dispatch and the graph executor both call this. The round trip runs only
// device kernels (the device's cast kernel, then the op's) on views of the workspace: it
// allocates no device memory and never waits, so a CUDA Graph captures it like any call.
void run_prepared(const PreparedCall& pc, const KernelArgs& args);

// Whether the call converts to and from float32 around its kernel (run_prepared does more
// than call pc.kernel).
inline bool round_trip(const PreparedCall& pc) {
  return !pc.upcast.empty() || !pc.downcast.empty();
}

// OpDef::low_precision = false: throws duet::Error "<op>: dtype bfloat16 is not supported
// (input 1; this op runs in float32/float64 only)" when a meta is low-precision (`what`:
// "input" or "output"). call_op checks the inputs before infer and the outputs after it;
// prepare() checks a graph node's again (passes make nodes without call_op).
void check_low_precision(const OpDef& op, std::span<const TensorMeta> metas, const char* what,
                         const CallSite& site = {});

// Prepares one call of `op` on `device`. `inputs` are read for their shape, dtype, device and
// strides only: concrete tensors, or the planner's storage-less layouts. `outputs` are the
// inferred output metas. Throws duet::Error, naming the op (and in graph mode the node and its
// source location), when the device has no kernel for the op or an input the kernel writes
// in place is not contiguous (a copy would take the write).
PreparedCall prepare(const OpDef& op, std::span<const Tensor> inputs,
                     std::span<const TensorMeta> outputs, const Attrs& attrs, Device device,
                     CallSite site = {});

}  // namespace duet

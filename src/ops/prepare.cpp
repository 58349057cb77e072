// prepare(): kernel lookup, contiguous copies of inputs, the float32 round trip of
// low-precision calls and the workspace query, once for eager dispatch, the graph planner and
// the executor; run_prepared(): the call itself.
#include "ops/prepare.h"

#include <algorithm>
#include <memory>

#include "core/tensor_impl.h"

namespace duet {
namespace {

// " (node %3 at net.cpp:14)" in graph mode, "" in eager mode.
std::string where(const CallSite& site) {
  if (site.node < 0) return "";
  return detail::cat(" (node %", site.node, " at ", site.loc ? site.loc->str() : "<unknown>", ")");
}

constexpr size_t kAlign = 64;
size_t align_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

uint8_t native_bit(DType t) {
  return t == DType::bfloat16 ? kNativeBFloat16 : t == DType::float16 ? kNativeFloat16 : 0;
}

// A low-precision dtype the kernel of `op` on `slot` does not handle itself.
bool needs_float32(const OpDef& op, int slot, DType t) {
  return is_low_precision(t) && (op.native_low_precision[slot] & native_bit(t)) == 0;
}

// A contiguous float32 tensor over `bytes` of the workspace.
Tensor workspace_view(void* bytes, const Shape& shape, Device device) {
  auto impl = std::make_shared<detail::TensorImpl>();
  const size_t nbytes = static_cast<size_t>(numel(shape)) * sizeof(float);
  impl->storage = std::make_shared<detail::Storage>(bytes, nbytes, device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = DType::float32;
  impl->device = device;
  return Tensor(std::move(impl));
}

}  // namespace

void check_low_precision(const OpDef& op, std::span<const TensorMeta> metas, const char* what,
                         const CallSite& site) {
  if (op.low_precision) return;
  for (size_t i = 0; i < metas.size(); ++i)
    DUET_CHECK(!is_low_precision(metas[i].dtype), op.name, ": dtype ", metas[i].dtype,
               " is not supported (", what, " ", i, "; this op runs in float32/float64 only)",
               where(site));
}

PreparedCall prepare(const OpDef& op, std::span<const Tensor> inputs,
                     std::span<const TensorMeta> outputs, const Attrs& attrs, Device device,
                     CallSite site) {
  PreparedCall pc;
  // A graph node's output metas may come from a pass rather than call_op's infer (which checks
  // them in every mode): check them here too, once per node at compile time.
  if (site.node >= 0) {
    for (const TensorMeta& m : outputs)
      checked_nbytes(m.shape, dtype_size(m.dtype), op.name.c_str());
    std::vector<TensorMeta> in_metas;
    for (const Tensor& t : inputs) in_metas.push_back({t.shape(), t.dtype(), t.device()});
    check_low_precision(op, in_metas, "input", site);
    check_low_precision(op, outputs, "output", site);
  }
  if (op.view) return pc;  // no kernel: an alias (or, in a graph, a copy into its buffer)
  const int slot = static_cast<int>(device.type);
  pc.kernel = op.kernels[slot];
  DUET_CHECK(pc.kernel, op.name, ": no kernel for device ", device, where(site));
  // The float32 round trip (OpDef::low_precision): which inputs and outputs it converts.
  for (size_t k = 0; k < inputs.size(); ++k)
    if (needs_float32(op, slot, inputs[k].dtype())) pc.upcast.push_back(static_cast<int32_t>(k));
  for (size_t k = 0; k < outputs.size(); ++k)
    if (needs_float32(op, slot, outputs[k].dtype)) pc.downcast.push_back(static_cast<int32_t>(k));
  size_t upcast_at = 0;
  if (!op.strided_inputs) {
    for (size_t k = 0; k < inputs.size(); ++k) {
      // An upcast input is read by the cast kernel, which takes any strides.
      const bool upcast = upcast_at < pc.upcast.size() && pc.upcast[upcast_at] == int32_t(k);
      if (upcast) ++upcast_at;
      if (inputs[k].is_contiguous()) continue;
      DUET_CHECK(!has_bit(op.mutates_inputs, k), op.name, ": input ", k,
                 " is written in place and must be contiguous", where(site));
      if (!upcast) pc.copies.push_back(static_cast<int32_t>(k));
    }
  }
  const WorkspaceFn wsfn = op.workspace[slot];
  if (!wsfn && !round_trip(pc)) return pc;  // the common case: nothing more to work out
  // The metas the kernel sees: float32 where the round trip converts.
  std::vector<TensorMeta> in_metas, out_metas(outputs.begin(), outputs.end());
  in_metas.reserve(inputs.size());
  for (const Tensor& t : inputs) in_metas.push_back({t.shape(), t.dtype(), t.device()});
  if (round_trip(pc)) {
    const KernelFn cast = op_def(OpId::cast).kernels[slot];
    DUET_CHECK(cast, op.name, ": no cast kernel for device ", device, " to compute ",
               "a low-precision call in float32", where(site));
    pc.cast = cast;
    pc.op = &op;
    pc.device = device;
    pc.to_float32.set("dtype", static_cast<int64_t>(DType::float32));
    pc.to_bfloat16.set("dtype", static_cast<int64_t>(DType::bfloat16));
    pc.to_float16.set("dtype", static_cast<int64_t>(DType::float16));
    size_t at = 0;
    auto place = [&](TensorMeta& m) {
      const size_t offset = at;
      // At least 64 bytes: an empty tensor still gets a real (non-null) address, as a fresh
      // tensor does (kernels memset or index their outputs' base pointers unconditionally).
      at += align_up(std::max<size_t>(checked_nbytes(m.shape, sizeof(float), op.name.c_str()), 1));
      DUET_CHECK(at <= static_cast<size_t>(INT64_MAX), op.name,
                 ": the float32 copies of a low-precision call need more than 2^63 bytes",
                 where(site));
      m.dtype = DType::float32;
      return offset;
    };
    for (int32_t k : pc.upcast) pc.upcast_offset.push_back(place(in_metas[k]));
    for (int32_t k : pc.downcast) pc.downcast_offset.push_back(place(out_metas[k]));
    pc.kernel_workspace_offset = at;
  }
  const size_t kernel_bytes = wsfn ? wsfn(in_metas, out_metas, attrs) : 0;
  DUET_CHECK(pc.kernel_workspace_offset == 0 ||
                 kernel_bytes <= static_cast<size_t>(INT64_MAX) - pc.kernel_workspace_offset,
             op.name, ": workspace of ", kernel_bytes, " bytes past ", pc.kernel_workspace_offset,
             " bytes of float32 copies overflows", where(site));
  pc.workspace_bytes = pc.kernel_workspace_offset + kernel_bytes;
  return pc;
}

void run_prepared(const PreparedCall& pc, const KernelArgs& args) {
  if (!round_trip(pc)) return pc.kernel(args);
  char* ws = static_cast<char*>(args.workspace);
  const size_t kernel_bytes = args.workspace_size - pc.kernel_workspace_offset;
  std::vector<Tensor> in(args.inputs.begin(), args.inputs.end());
  std::vector<Tensor> out(args.outputs.begin(), args.outputs.end());
  // The inputs, converted to float32 into the workspace.
  for (size_t j = 0; j < pc.upcast.size(); ++j) {
    const int32_t k = pc.upcast[j];
    Tensor f = workspace_view(ws + pc.upcast_offset[j], in[k].shape(), pc.device);
    pc.cast({pc.to_float32, std::span<const Tensor>(&in[k], 1), std::span<Tensor>(&f, 1)});
    in[k] = std::move(f);
  }
  for (size_t j = 0; j < pc.downcast.size(); ++j) {
    const int32_t k = pc.downcast[j];
    out[k] = workspace_view(ws + pc.downcast_offset[j], out[k].shape(), pc.device);
  }
  pc.kernel({args.attrs, in, out, kernel_bytes ? ws + pc.kernel_workspace_offset : nullptr,
             kernel_bytes, args.device_seed});
  // Round back: the outputs, then the inputs the kernel wrote in place.
  auto attrs_to = [&](DType t) -> const Attrs& {
    return t == DType::bfloat16 ? pc.to_bfloat16 : pc.to_float16;
  };
  for (size_t j = 0; j < pc.downcast.size(); ++j) {
    const int32_t k = pc.downcast[j];
    Tensor real = args.outputs[k];
    pc.cast(
        {attrs_to(real.dtype()), std::span<const Tensor>(&out[k], 1), std::span<Tensor>(&real, 1)});
  }
  for (size_t j = 0; j < pc.upcast.size(); ++j) {
    const int32_t k = pc.upcast[j];
    if (!has_bit(pc.op->mutates_inputs, static_cast<size_t>(k))) continue;
    Tensor real = args.inputs[k];
    pc.cast(
        {attrs_to(real.dtype()), std::span<const Tensor>(&in[k], 1), std::span<Tensor>(&real, 1)});
  }
}

}  // namespace duet

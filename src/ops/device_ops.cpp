// to_device: the one op whose output lives on another device than its input.
//
// The kernel is the same function for both device slots: detail::strided_copy moves the
// values (pinned staging for host->device, a stream sync for device->host) and accepts any
// input strides. The gradient is to_device back to the input's device.
#include "core/copy.h"
#include "duet/cuda.h"
#include "duet/ops/shape.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

Device attr_device(const Attrs& a) {
  const int64_t type = a.i("device_type"), index = a.i("device_index");
  DUET_CHECK(type >= 0 && type < kNumDeviceTypes && index >= 0 && index <= (1 << 16),
             "to_device: device_type ", type, ", device_index ", index,
             " (expected device_type 0 (cpu) or 1 (cuda) and a device index >= 0)");
  return Device{static_cast<DeviceType>(type), static_cast<int>(index)};
}

Attrs device_attrs(Device d) {
  return Attrs()
      .set("device_type", static_cast<int64_t>(d.type))
      .set("device_index", static_cast<int64_t>(d.index));
}

std::vector<TensorMeta> to_device_infer(const InferArgs& a) {
  TensorMeta out = a.inputs[0];
  out.device = attr_device(a.attrs);
  check_device_available(out.device);
  return {out};
}

std::vector<Tensor> to_device_grad(const GradArgs& g) {
  return {to_device(g.grad_outputs[0], g.input_metas[0].device)};
}

void copy_kernel(const KernelArgs& k) {
  detail::strided_copy(k.inputs[0], k.outputs[0]);
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

// A copy to the CPU (the only device every build has); the CUDA test moves values itself.
std::vector<OpSample> to_device_samples() {
  using namespace samples;
  const Attrs to_cpu = Attrs().set("device_type", int64_t{0}).set("device_index", int64_t{0});
  return {{.inputs = {normal({3, 5})}, .attrs = to_cpu, .skip = uint32_t(SampleCheck::no_cuda)},
          {.inputs = {normal({})}, .attrs = to_cpu, .skip = uint32_t(SampleCheck::no_cuda)}};
}

}  // namespace

DUET_DEFINE_OP(to_device_op, {.id = OpId::to_device,
                              .infer = to_device_infer,
                              .grad = to_device_grad,
                              .strided_inputs = true,
                              .kernels = {copy_kernel, copy_kernel},
                              .samples = to_device_samples,
                              // A copy: any dtype on both devices (the CUDA backend's
                              // register_kernel passes the same bits).
                              .native_low_precision = {kNativeBFloat16 | kNativeFloat16,
                                                       kNativeBFloat16 | kNativeFloat16}})

Tensor to_device(const Tensor& x, Device device, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(to_device_op(), {x}, device_attrs(device));
}

}  // namespace duet

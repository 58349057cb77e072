// PLACEHOLDER (being written): nchwc_conv.cpp
#include "cpu/nchwc_common.h"
#include "duet/error.h"
namespace duet::cpu_kernels {
void conv2d_nchwc(const KernelArgs&) {
  throw Error("conv2d_nchwc: not written yet");
}
}  // namespace duet::cpu_kernels

// PLACEHOLDER (being written): nchwc_depthwise.cpp
#include "cpu/nchwc_common.h"
#include "duet/error.h"
namespace duet::cpu_kernels {
void depthwise_conv2d_nchwc(const KernelArgs&) {
  throw Error("depthwise_conv2d_nchwc: not written yet");
}
}  // namespace duet::cpu_kernels

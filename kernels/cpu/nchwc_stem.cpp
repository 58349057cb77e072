// PLACEHOLDER (being written): nchwc_stem.cpp
#include "cpu/nchwc_common.h"
#include "duet/error.h"
namespace duet::cpu_kernels {
void nchwc::conv_plain_input(const KernelArgs&) {
  throw Error("nchwc::conv_plain_input: not written yet");
}
}  // namespace duet::cpu_kernels

// PLACEHOLDER (being written): nchwc_reorder.cpp
#include "cpu/nchwc_common.h"
#include "duet/error.h"
namespace duet::cpu_kernels {
void to_nchwc(const KernelArgs&) {
  throw Error("to_nchwc: not written yet");
}
void from_nchwc(const KernelArgs&) {
  throw Error("from_nchwc: not written yet");
}
void nchwc_pack_weight(const KernelArgs&) {
  throw Error("nchwc_pack_weight: not written yet");
}
}  // namespace duet::cpu_kernels

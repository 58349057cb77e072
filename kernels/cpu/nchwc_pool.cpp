// PLACEHOLDER (being written): nchwc_pool.cpp
#include "cpu/nchwc_common.h"
#include "duet/error.h"
namespace duet::cpu_kernels {
void max_pool2d_nchwc(const KernelArgs&) {
  throw Error("max_pool2d_nchwc: not written yet");
}
void avg_pool2d_nchwc(const KernelArgs&) {
  throw Error("avg_pool2d_nchwc: not written yet");
}
void global_avg_pool_nchwc(const KernelArgs&) {
  throw Error("global_avg_pool_nchwc: not written yet");
}
}  // namespace duet::cpu_kernels

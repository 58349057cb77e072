// Allocator counters, per device: how memory is reported.
//
//   duet::reset_peak_memory(duet::cpu);
//   auto y = model(x);
//   duet::MemoryStats s = duet::memory_stats(duet::cpu);
//   std::cout << s.peak_bytes << "\n";
//   std::cout << duet::format_bytes(s.peak_bytes) << "\n";   // "80.2 KiB"
#pragma once

#include <cstdint>
#include <string>

#include "duet/dtype.h"

namespace duet {

struct MemoryStats {
  int64_t current_bytes = 0;   // bytes held by live tensors
  int64_t peak_bytes = 0;      // high-water mark of current_bytes since the last reset
  int64_t reserved_bytes = 0;  // bytes obtained from the system (>= current with caching)
  int64_t num_allocs = 0;      // allocations served since the last reset
  int64_t num_frees = 0;
  int64_t num_device_mallocs = 0;  // blocks obtained from the system (cudaMalloc on a GPU,
                                   // aligned_alloc on the CPU) since the last reset
  // cudaMemGetInfo at the time of the query: bytes in use on the whole GPU (every process,
  // the CUDA context included) and its capacity. 0 on the CPU.
  int64_t device_used_bytes = 0;
  int64_t device_total_bytes = 0;
};

MemoryStats memory_stats(Device device);

// A size for people: exact bytes below 1 KiB ("512 B"), then 3 significant digits in binary
// units ("80.2 KiB", "1.50 MiB", "11.2 GiB"); negative sizes (differences) keep their sign.
// Every size duet prints goes through it.
std::string format_bytes(int64_t bytes);
// Sets peak to current and zeroes the alloc/free counters.
void reset_peak_memory(Device device);
// Returns the allocator's cached free blocks to the system (reserved_bytes drops).
void empty_cache(Device device);
// An allocation that would take current_bytes above `bytes` throws duet::Error
// ("out of memory ... limit"), like torch.cuda.set_per_process_memory_fraction. 0 = none.
void set_memory_limit(Device device, int64_t bytes);

}  // namespace duet

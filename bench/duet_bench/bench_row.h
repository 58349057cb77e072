// One measured point of the benchmark grid, as written to the study's CSV layout:
//   ;Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory
//   0;graph;resnet18;(224, 224, 3);8;inference_cpu;;0.0421;-
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace duet::bench {

struct BenchRow {
  std::string framework;     // "eager", "graph" (or "pytorch-eager", "pytorch-graph")
  std::string architecture;  // "resnet18", ...
  int64_t input_size = 0;    // H = W
  int64_t batch_size = 0;
  std::string mode;              // "train", "inference_cpu", "inference_gpu"
  std::optional<int> gpu_index;  // empty on the CPU
  // Mean step time in seconds; nullopt when the point did not fit in memory ("-").
  std::optional<double> time_s;
  std::optional<double> median_s;
  // Allocator peak in MB; nullopt on the CPU column of the study's layout ("-" there) is
  // not used: duet always knows its peak.
  std::optional<double> memory_mb;
  std::optional<double> device_total_mb;  // cudaMemGetInfo's process total beside it (GPU)
};

}  // namespace duet::bench

// One measured point of the benchmark grid, as written to the study's CSV layout:
//   ;Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;Device
//   total;CUDA graph;Graph path;Precision
//   0;graph;resnet18;(224, 224, 3);8;inference_cpu;;0.0421;-;0.0419;-;-;compile;bf16
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
  // Whether the step was replayed as a CUDA Graph: "on", "off", or empty ("-": eager rows, the
  // CPU, and CSVs without the column).
  std::string cuda_graph;
  // How a graph contender ran, empty ("-") for eager rows: duet "compile" or
  // "compile+cuda-graph"; PyTorch "torchscript-frozen", "compile", "compile-reduce-overhead"
  // or "cuda-graph" (bench/pytorch_reference.py).
  std::string graph_path;
  // "fp32", or "bf16" / "fp16" for a point run under autocast to that dtype (--precision);
  // CSVs without the column are fp32.
  std::string precision = "fp32";

  // The framework, with the precision appended unless fp32 ("graph bf16"): one series of a
  // figure or table per (framework, precision).
  std::string series() const {
    return precision == "fp32" ? framework : framework + " " + precision;
  }
};

}  // namespace duet::bench

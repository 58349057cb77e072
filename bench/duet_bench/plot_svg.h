// SVG figures in the study's style: per architecture, each framework's step time relative to
// the fastest framework at every (input size, batch size) point.
//
//   auto rows = duet::bench::read_bench_csv("duet.csv");
//   auto more = duet::bench::read_bench_csv("pytorch.csv");
//   rows.insert(rows.end(), more.begin(), more.end());
//   duet::bench::write_relative_time_svg("relative.svg", rows, "duet vs PyTorch, CPU");
//
// The figure has one section per mode (train, inference_gpu, inference_cpu, then any other)
// with a heading, and in each section a grid of panels, up to 3 per row, one per architecture.
// A panel's x axis holds the categorical points "128×1", "128×8", ... (sorted by size, then
// batch); its y axis is time / fastest time at that point (1.0 = fastest). Each framework is
// one coloured polyline with markers; points without a time ("-") are left out and break the
// line. Architecture names match loosely ("mobilenet_v2" == "mobilenetv2"), so the study's
// CSVs plot in the same panels as ours.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench_row.h"

namespace duet::bench {

// Writes the figure to `path`; throws duet::Error when the file can't be written.
void write_relative_time_svg(const std::string& path, const std::vector<BenchRow>& rows,
                             const std::string& title);

// The same figure as a string.
std::string relative_time_svg(const std::vector<BenchRow>& rows, const std::string& title);

// Per row: its time divided by the fastest time among the rows with the same mode,
// architecture (loosely matched), input size and batch size; nullopt for rows without a time.
std::vector<std::optional<double>> relative_times(const std::vector<BenchRow>& rows);

// Loose architecture key: lower case with '_', '-' and spaces dropped.
std::string architecture_key(std::string_view name);

}  // namespace duet::bench

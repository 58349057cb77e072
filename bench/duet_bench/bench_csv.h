// Reading and writing benchmark rows in the study's CSV layout, `;`-separated, first column a
// row index, with five extra columns after the study's eight:
//
//   ;Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;Device
//   total;CUDA graph;Graph path;Precision
//   0;graph;resnet18;(224, 224, 3);8;inference_cpu;;0.0421;-;0.0419;-;-;compile;fp32
//
// Time and Median are seconds per step (written with enough digits to round-trip exactly),
// Memory and Device total are MB with one decimal; "-" marks a missing value (a point that
// did not fit in memory, or a column the source cannot measure). CUDA graph is on / off / "-",
// Graph path names how a graph contender ran ("-" for eager), Precision is fp32, bf16 or fp16
// (autocast). The reader maps columns by header name, so it also reads the study's own
// 9-column CSVs and the earlier 11- and 13-column ones (the missing columns then stay empty;
// a missing Precision is fp32) and the CSVs of bench/pytorch_reference.py.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bench_row.h"

namespace duet::bench {

// Reads a CSV file; throws duet::Error naming the file and line on a missing file, a header
// without the needed columns, or a malformed field.
std::vector<BenchRow> read_bench_csv(const std::string& path);

// Writes the rows (index column from 0); throws duet::Error when the file can't be written.
void write_bench_csv(const std::string& path, const std::vector<BenchRow>& rows);

// The same on in-memory text; `source` names the text in error messages.
std::vector<BenchRow> parse_bench_csv(std::string_view text, const std::string& source = "<csv>");
std::string format_bench_csv(const std::vector<BenchRow>& rows);

// "(224, 224, 3)" for 224: the study's Input size column.
std::string format_input_size(int64_t size);

}  // namespace duet::bench

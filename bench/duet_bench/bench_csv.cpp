#include "bench_csv.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "duet/error.h"

namespace duet::bench {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = line.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, pos - start));
    start = pos + 1;
  }
}

bool is_missing(std::string_view s) {
  return s.empty() || s == "-";
}

struct Where {
  const std::string& source;
  size_t line;
};

[[noreturn]] void fail(const Where& w, std::string_view column, std::string_view value,
                       std::string_view expected) {
  throw Error(detail::cat("read_bench_csv: ", w.source, ":", w.line, ": column '", column,
                          "' has '", value, "', expected ", expected));
}

template <class Int>
Int parse_int(std::string_view s, const Where& w, std::string_view column) {
  s = trim(s);
  Int v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty())
    fail(w, column, s, "an integer");
  return v;
}

std::optional<double> parse_opt_double(std::string_view s, const Where& w,
                                       std::string_view column) {
  s = trim(s);
  if (is_missing(s)) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) fail(w, column, s, "a number or '-'");
  if (std::isnan(v)) return std::nullopt;
  return v;
}

// "(224, 224, 3)" or "224" -> 224.
int64_t parse_input_size(std::string_view s, const Where& w) {
  s = trim(s);
  size_t first = 0;
  while (first < s.size() && !std::isdigit(static_cast<unsigned char>(s[first]))) ++first;
  size_t last = first;
  while (last < s.size() && std::isdigit(static_cast<unsigned char>(s[last]))) ++last;
  if (first == last) fail(w, "Input size", s, "'(H, W, C)' or an integer");
  return parse_int<int64_t>(s.substr(first, last - first), w, "Input size");
}

std::string format_seconds(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *v);  // shortest exact round trip
  return ec == std::errc() ? std::string(buf, end) : "-";
}

std::string format_mb(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", *v);
  return buf;
}

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

}  // namespace

std::string format_input_size(int64_t size) {
  return detail::cat("(", size, ", ", size, ", 3)");
}

std::vector<BenchRow> parse_bench_csv(std::string_view text, const std::string& source) {
  std::vector<BenchRow> rows;
  std::map<std::string, size_t, std::less<>> cols;
  bool have_header = false;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;
    auto fields = split(line, ';');
    Where w{source, line_no};
    if (!have_header) {
      for (size_t i = 0; i < fields.size(); ++i) cols.emplace(std::string(trim(fields[i])), i);
      for (const char* need :
           {"Framework", "Architecture", "Input size", "Batch size", "Mode", "Time"}) {
        if (!cols.count(need))
          throw Error(detail::cat("read_bench_csv: ", source, ":", line_no,
                                  ": header lacks the column '", need, "': '", line, "'"));
      }
      have_header = true;
      continue;
    }
    auto field = [&](const char* name) -> std::optional<std::string_view> {
      auto it = cols.find(name);
      if (it == cols.end()) return std::nullopt;
      if (it->second >= fields.size())
        throw Error(detail::cat("read_bench_csv: ", source, ":", line_no, ": ", fields.size(),
                                " fields, expected ", cols.size(), " (no '", name, "')"));
      return trim(fields[it->second]);
    };
    BenchRow r;
    r.framework = std::string(*field("Framework"));
    r.architecture = std::string(*field("Architecture"));
    r.input_size = parse_input_size(*field("Input size"), w);
    r.batch_size = parse_int<int64_t>(*field("Batch size"), w, "Batch size");
    r.mode = std::string(*field("Mode"));
    if (auto g = field("GPU index"); g && !is_missing(*g))
      r.gpu_index = parse_int<int>(*g, w, "GPU index");
    r.time_s = parse_opt_double(*field("Time"), w, "Time");
    if (auto m = field("Memory")) r.memory_mb = parse_opt_double(*m, w, "Memory");
    if (auto m = field("Median")) r.median_s = parse_opt_double(*m, w, "Median");
    if (auto m = field("Device total")) r.device_total_mb = parse_opt_double(*m, w, "Device total");
    if (auto m = field("CUDA graph"); m && !is_missing(*m)) r.cuda_graph = std::string(*m);
    if (auto m = field("Graph path"); m && !is_missing(*m)) r.graph_path = std::string(*m);
    if (auto m = field("Precision"); m && !is_missing(*m)) {
      if (*m != "fp32" && *m != "bf16" && *m != "fp16")
        fail(w, "Precision", *m, "fp32, bf16 or fp16");
      r.precision = std::string(*m);
    }
    rows.push_back(std::move(r));
  }
  if (!have_header) throw Error(detail::cat("read_bench_csv: ", source, ": no header line"));
  return rows;
}

std::vector<BenchRow> read_bench_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(detail::cat("read_bench_csv: cannot open '", path, "'"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(detail::cat("read_bench_csv: cannot read '", path, "'"));
  return parse_bench_csv(ss.str(), path);
}

std::string format_bench_csv(const std::vector<BenchRow>& rows) {
  std::string out =
      ";Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;Device "
      "total;CUDA graph;Graph path;Precision\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const BenchRow& r = rows[i];
    out += detail::cat(i, ";", r.framework, ";", r.architecture, ";",
                       format_input_size(r.input_size), ";", r.batch_size, ";", r.mode, ";",
                       r.gpu_index ? std::to_string(*r.gpu_index) : std::string(), ";",
                       format_seconds(r.time_s), ";", format_mb(r.memory_mb), ";",
                       format_seconds(r.median_s), ";", format_mb(r.device_total_mb), ";",
                       or_dash(r.cuda_graph), ";", or_dash(r.graph_path), ";", r.precision, "\n");
  }
  return out;
}

void write_bench_csv(const std::string& path, const std::vector<BenchRow>& rows) {
  const std::string text = format_bench_csv(rows);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(detail::cat("write_bench_csv: cannot open '", path, "' for writing"));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) throw Error(detail::cat("write_bench_csv: cannot write '", path, "'"));
}

}  // namespace duet::bench

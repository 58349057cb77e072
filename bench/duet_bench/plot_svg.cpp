#include "plot_svg.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <tuple>

#include "duet/error.h"

namespace duet::bench {
namespace {

// Layout, in SVG user units (px).
constexpr double kMargin = 20;
constexpr double kTitleH = 40;
constexpr double kLegendH = 30;
constexpr double kSectionH = 34;
constexpr double kPanelW = 380;
constexpr double kPanelH = 270;
constexpr double kGap = 16;
constexpr int kPerRow = 3;
// Plot area inside a panel.
constexpr double kPlotLeft = 52;
constexpr double kPlotRight = 12;
constexpr double kPlotTop = 30;
constexpr double kPlotBottom = 62;

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr int kPaletteSize = static_cast<int>(sizeof kPalette / sizeof kPalette[0]);

std::string esc(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// 1.50 -> "1.5", 2.00 -> "2", 1.25 -> "1.25".
std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string mode_heading(const std::string& mode) {
  if (mode == "train") return "Training step (train)";
  if (mode == "inference_gpu") return "Inference on the GPU (inference_gpu)";
  if (mode == "inference_cpu") return "Inference on the CPU (inference_cpu)";
  return mode;
}

// A step giving 3-6 ticks over [1, top].
double tick_step(double top) {
  const double span = std::max(top - 1.0, 1e-9);
  for (double base = 0.01;; base *= 10) {
    for (double m : {1.0, 2.0, 2.5, 5.0}) {
      if (span / (base * m) <= 5.0) return base * m;
    }
  }
}

using PointKey = std::tuple<std::string, std::string, int64_t, int64_t>;  // mode, arch, H, N

template <class T>
void add_unique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

}  // namespace

std::string architecture_key(std::string_view name) {
  std::string key;
  for (char c : name) {
    if (c == '_' || c == '-' || std::isspace(static_cast<unsigned char>(c))) continue;
    key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return key;
}

std::vector<std::optional<double>> relative_times(const std::vector<BenchRow>& rows) {
  std::map<PointKey, double> fastest;
  auto key_of = [](const BenchRow& r) {
    return PointKey{r.mode, architecture_key(r.architecture), r.input_size, r.batch_size};
  };
  for (const BenchRow& r : rows) {
    if (!r.time_s || !(*r.time_s > 0)) continue;
    auto [it, inserted] = fastest.emplace(key_of(r), *r.time_s);
    if (!inserted) it->second = std::min(it->second, *r.time_s);
  }
  std::vector<std::optional<double>> out;
  out.reserve(rows.size());
  for (const BenchRow& r : rows) {
    if (!r.time_s || !(*r.time_s > 0)) {
      out.push_back(std::nullopt);
      continue;
    }
    out.push_back(*r.time_s / fastest.at(key_of(r)));
  }
  return out;
}

std::string relative_time_svg(const std::vector<BenchRow>& rows, const std::string& title) {
  const auto rel = relative_times(rows);

  // Orders of first appearance; the study's three modes first.
  std::vector<std::string> frameworks, modes;
  for (const char* m : {"train", "inference_gpu", "inference_cpu"}) {
    if (std::any_of(rows.begin(), rows.end(), [&](const BenchRow& r) { return r.mode == m; }))
      modes.push_back(m);
  }
  std::map<std::string, std::string> arch_name;  // key -> first spelling
  for (const BenchRow& r : rows) {
    add_unique(frameworks, r.series());
    add_unique(modes, r.mode);
    arch_name.emplace(architecture_key(r.architecture), r.architecture);
  }
  // Per mode: architectures (first-seen) and their (size, batch) points.
  struct Section {
    std::string mode;
    std::vector<std::string> archs;  // keys
    std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> points;
  };
  std::vector<Section> sections;
  for (const std::string& m : modes) {
    Section s{m, {}, {}};
    for (const BenchRow& r : rows) {
      if (r.mode != m) continue;
      const std::string k = architecture_key(r.architecture);
      add_unique(s.archs, k);
      add_unique(s.points[k], std::pair{r.input_size, r.batch_size});
    }
    for (auto& [k, pts] : s.points) std::sort(pts.begin(), pts.end());
    sections.push_back(std::move(s));
  }

  int cols = 1;
  for (const Section& s : sections) cols = std::max(cols, std::min<int>(kPerRow, s.archs.size()));
  const double width = 2 * kMargin + cols * kPanelW + (cols - 1) * kGap;
  double height = kMargin + kTitleH + kLegendH;
  for (const Section& s : sections) {
    const int prow = static_cast<int>((s.archs.size() + kPerRow - 1) / kPerRow);
    height += kSectionH + prow * kPanelH + (prow - 1) * kGap + kGap;
  }
  if (sections.empty()) height += 40;
  height += kMargin;

  std::string o;
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" +
       num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) +
       "\" font-family=\"sans-serif\">\n";
  o += "<title>" + esc(title) + "</title>\n";
  o += "<rect x=\"0\" y=\"0\" width=\"" + num(width) + "\" height=\"" + num(height) +
       "\" fill=\"white\"/>\n";
  o += "<text class=\"figure-title\" x=\"" + num(width / 2) + "\" y=\"" + num(kMargin + 20) +
       "\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\">" + esc(title) +
       "</text>\n";

  // Legend: one swatch and name per framework, in one row.
  {
    double x = kMargin;
    const double y = kMargin + kTitleH + 12;
    o += "<g class=\"legend\">\n";
    for (size_t f = 0; f < frameworks.size(); ++f) {
      const char* color = kPalette[f % kPaletteSize];
      o += "<line x1=\"" + num(x) + "\" y1=\"" + num(y) + "\" x2=\"" + num(x + 24) + "\" y2=\"" +
           num(y) + "\" stroke=\"" + color + "\" stroke-width=\"2\"/>";
      o += "<circle cx=\"" + num(x + 12) + "\" cy=\"" + num(y) + "\" r=\"3.5\" fill=\"" + color +
           "\"/>";
      o += "<text class=\"legend\" x=\"" + num(x + 30) + "\" y=\"" + num(y + 4) +
           "\" font-size=\"13\">" + esc(frameworks[f]) + "</text>\n";
      x += 30 + 8.0 * frameworks[f].size() + 24;
    }
    o += "</g>\n";
  }

  double y0 = kMargin + kTitleH + kLegendH;
  if (sections.empty()) {
    o += "<text x=\"" + num(width / 2) + "\" y=\"" + num(y0 + 24) +
         "\" text-anchor=\"middle\" font-size=\"14\">no data</text>\n";
  }
  for (const Section& s : sections) {
    o += "<text class=\"section-title\" x=\"" + num(kMargin) + "\" y=\"" + num(y0 + 22) +
         "\" font-size=\"16\" font-weight=\"bold\">" + esc(mode_heading(s.mode)) + "</text>\n";
    y0 += kSectionH;
    for (size_t a = 0; a < s.archs.size(); ++a) {
      const std::string& key = s.archs[a];
      const auto& pts = s.points.at(key);
      const double px = kMargin + (a % kPerRow) * (kPanelW + kGap);
      const double py = y0 + (a / kPerRow) * (kPanelH + kGap);
      const double left = px + kPlotLeft, right = px + kPanelW - kPlotRight;
      const double top = py + kPlotTop, bottom = py + kPanelH - kPlotBottom;

      // Values of this panel: series[framework][point index].
      std::vector<std::vector<std::optional<double>>> series(
          frameworks.size(), std::vector<std::optional<double>>(pts.size()));
      double ymax = 1.0;
      for (size_t i = 0; i < rows.size(); ++i) {
        const BenchRow& r = rows[i];
        if (r.mode != s.mode || architecture_key(r.architecture) != key || !rel[i]) continue;
        const size_t f =
            std::find(frameworks.begin(), frameworks.end(), r.series()) - frameworks.begin();
        const size_t p =
            std::find(pts.begin(), pts.end(), std::pair{r.input_size, r.batch_size}) - pts.begin();
        series[f][p] = *rel[i];
        ymax = std::max(ymax, *rel[i]);
      }
      const double step = tick_step(ymax * 1.05);
      const double ytop = std::max(1.0 + step, std::ceil(ymax * 1.05 / step - 1e-9) * step);
      auto ypos = [&](double v) { return bottom - (v - 1.0) / (ytop - 1.0) * (bottom - top); };
      auto xpos = [&](size_t i) {
        return pts.size() == 1 ? (left + right) / 2
                               : left + 8 + i * (right - left - 16) / double(pts.size() - 1);
      };

      o += "<g class=\"panel\">\n";
      o += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(right - left) +
           "\" height=\"" + num(bottom - top) + "\" fill=\"none\" stroke=\"#444\"/>\n";
      o += "<text class=\"panel-title\" x=\"" + num((left + right) / 2) + "\" y=\"" + num(py + 20) +
           "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" +
           esc(arch_name.at(key)) + "</text>\n";
      // y ticks and grid lines; 1.0 (the fastest) always labelled.
      for (long k = std::lround(std::ceil(1.0 / step - 1e-9)); k * step <= ytop + 1e-9; ++k) {
        const double v = k * step;
        o += "<line x1=\"" + num(left) + "\" y1=\"" + num(ypos(v)) + "\" x2=\"" + num(right) +
             "\" y2=\"" + num(ypos(v)) + "\" stroke=\"#ddd\"/>";
        o += "<text x=\"" + num(left - 5) + "\" y=\"" + num(ypos(v) + 4) +
             "\" text-anchor=\"end\" font-size=\"11\">" + tick_label(v) + "</text>\n";
      }
      if (std::fmod(1.0, step) > 1e-9 && step - std::fmod(1.0, step) > 1e-9) {
        o += "<text x=\"" + num(left - 5) + "\" y=\"" + num(ypos(1.0) + 4) +
             "\" text-anchor=\"end\" font-size=\"11\">1</text>\n";
      }
      o += "<line x1=\"" + num(left) + "\" y1=\"" + num(ypos(1.0)) + "\" x2=\"" + num(right) +
           "\" y2=\"" + num(ypos(1.0)) + "\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n";
      o += "<text x=\"" + num(px + 14) + "\" y=\"" + num((top + bottom) / 2) +
           "\" text-anchor=\"middle\" font-size=\"11\" transform=\"rotate(-90 " + num(px + 14) +
           " " + num((top + bottom) / 2) + ")\">time / fastest</text>\n";
      // x ticks: "size×batch", rotated.
      for (size_t i = 0; i < pts.size(); ++i) {
        const double x = xpos(i);
        o += "<line x1=\"" + num(x) + "\" y1=\"" + num(bottom) + "\" x2=\"" + num(x) + "\" y2=\"" +
             num(bottom + 4) + "\" stroke=\"#444\"/>";
        o += "<text x=\"" + num(x) + "\" y=\"" + num(bottom + 14) +
             "\" text-anchor=\"end\" font-size=\"10\" transform=\"rotate(-45 " + num(x) + " " +
             num(bottom + 14) + ")\">" + std::to_string(pts[i].first) + "\u00d7" +
             std::to_string(pts[i].second) + "</text>\n";
      }
      o += "<text x=\"" + num((left + right) / 2) + "\" y=\"" + num(py + kPanelH - 4) +
           "\" text-anchor=\"middle\" font-size=\"11\">input size \u00d7 batch size</text>\n";
      // One polyline (broken at missing points) and markers per framework.
      for (size_t f = 0; f < frameworks.size(); ++f) {
        const char* color = kPalette[f % kPaletteSize];
        std::string poly;
        int run = 0;
        auto flush = [&] {
          if (run >= 2)
            o += "<polyline fill=\"none\" stroke=\"" + std::string(color) +
                 "\" stroke-width=\"1.8\" points=\"" + poly + "\"/>\n";
          poly.clear();
          run = 0;
        };
        for (size_t i = 0; i < pts.size(); ++i) {
          if (!series[f][i]) {
            flush();
            continue;
          }
          poly += (run ? " " : "") + num(xpos(i)) + "," + num(ypos(*series[f][i]));
          ++run;
        }
        flush();
        for (size_t i = 0; i < pts.size(); ++i) {
          if (!series[f][i]) continue;
          o += "<circle cx=\"" + num(xpos(i)) + "\" cy=\"" + num(ypos(*series[f][i])) +
               "\" r=\"3\" fill=\"" + color + "\"><title>" + esc(frameworks[f]) + " " +
               std::to_string(pts[i].first) + "\u00d7" + std::to_string(pts[i].second) + ": " +
               tick_label(*series[f][i]) + "</title></circle>\n";
        }
      }
      o += "</g>\n";
    }
    const int prow = static_cast<int>((s.archs.size() + kPerRow - 1) / kPerRow);
    y0 += prow * kPanelH + (prow - 1) * kGap + kGap;
  }
  o += "</svg>\n";
  return o;
}

void write_relative_time_svg(const std::string& path, const std::vector<BenchRow>& rows,
                             const std::string& title) {
  const std::string svg = relative_time_svg(rows, title);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    throw Error(detail::cat("write_relative_time_svg: cannot open '", path, "' for writing"));
  out.write(svg.data(), static_cast<std::streamsize>(svg.size()));
  out.close();
  if (!out) throw Error(detail::cat("write_relative_time_svg: cannot write '", path, "'"));
}

}  // namespace duet::bench

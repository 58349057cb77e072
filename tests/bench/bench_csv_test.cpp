// duet-bench's CSV reader/writer and SVG figure (bench/duet_bench/bench_csv.h, plot_svg.h).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "duet/error.h"
#include "duet_bench/bench_csv.h"
#include "duet_bench/plot_svg.h"

namespace fs = std::filesystem;
using duet::bench::BenchRow;

namespace {

BenchRow row(std::string fw, std::string arch, int64_t size, int64_t batch, std::string mode,
             std::optional<double> time, std::optional<double> mem = std::nullopt) {
  BenchRow r;
  r.framework = std::move(fw);
  r.architecture = std::move(arch);
  r.input_size = size;
  r.batch_size = batch;
  r.mode = std::move(mode);
  r.time_s = time;
  r.median_s = time ? std::optional<double>(*time * 0.99) : std::nullopt;
  r.memory_mb = mem;
  return r;
}

fs::path temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return fs::temp_directory_path() / (std::string("duet_bench_test_") + info->name() + "_" + name);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size()))
    ++n;
  return n;
}

void expect_same(const BenchRow& a, const BenchRow& b) {
  EXPECT_EQ(a.framework, b.framework);
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.input_size, b.input_size);
  EXPECT_EQ(a.batch_size, b.batch_size);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.gpu_index, b.gpu_index);
  EXPECT_EQ(a.time_s, b.time_s);  // exact: times are written to round-trip
  EXPECT_EQ(a.median_s, b.median_s);
  ASSERT_EQ(a.memory_mb.has_value(), b.memory_mb.has_value());
  if (a.memory_mb) {
    EXPECT_NEAR(*a.memory_mb, *b.memory_mb, 0.05);  // one decimal
  }
  ASSERT_EQ(a.device_total_mb.has_value(), b.device_total_mb.has_value());
  if (a.device_total_mb) {
    EXPECT_NEAR(*a.device_total_mb, *b.device_total_mb, 0.05);
  }
  EXPECT_EQ(a.cuda_graph, b.cuda_graph);
  EXPECT_EQ(a.graph_path, b.graph_path);
  EXPECT_EQ(a.precision, b.precision);
}

// Four lines of the study's train.csv (/work/shared/seed-benchmark, not available in CI).
constexpr const char* kStudyCsv =
    ";Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory\r\n"
    "0;tf1;resnet18;(128, 128, 3);1;train;0;0.0192942357063293;4679.0\r\n"
    "107;tf2;resnet50;(320, 320, 3);32;train;0;-;-\r\n"
    "168;pytorch;resnet18;(128, 128, 3);1;train;0;0.010440683364868164;1329.0\r\n";

}  // namespace

TEST(BenchCsv, RoundTripIncludingMissingValues) {
  std::vector<BenchRow> rows;
  rows.push_back(row("eager", "resnet18", 224, 8, "inference_cpu", 0.0421337, 123.45));
  rows.push_back(row("graph", "resnet50", 320, 32, "train", std::nullopt));  // "-" row
  BenchRow gpu = row("pytorch-eager", "mobilenet_v2", 128, 1, "inference_gpu", 1.0 / 3.0, 77.0);
  gpu.gpu_index = 0;
  gpu.device_total_mb = 1534.25;
  rows.push_back(gpu);
  rows.push_back(row("pytorch-graph", "efficientnet_b7", 320, 16, "train", 12.5, std::nullopt));
  rows.back().cuda_graph = "on";
  rows.back().graph_path = "compile-reduce-overhead";
  BenchRow duet_gpu = row("graph", "resnet18", 224, 1, "train", 0.004, 300.0);
  duet_gpu.gpu_index = 0;
  duet_gpu.cuda_graph = "off";
  duet_gpu.graph_path = "compile";
  duet_gpu.precision = "bf16";
  rows.push_back(duet_gpu);

  const std::string text = duet::bench::format_bench_csv(rows);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            ";Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;"
            "Device total;CUDA graph;Graph path;Precision");
  EXPECT_NE(text.find("\n1;graph;resnet50;(320, 320, 3);32;train;;-;-;-;-;-;-;fp32\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(";on;compile-reduce-overhead;fp32\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n4;graph;resnet18;(224, 224, 3);1;train;0;"), std::string::npos) << text;
  EXPECT_NE(text.find(";off;compile;bf16\n"), std::string::npos) << text;
  EXPECT_NE(text.find(";123.5;"), std::string::npos) << "memory with one decimal:\n" << text;
  EXPECT_NE(text.find("\n2;pytorch-eager;mobilenet_v2;(128, 128, 3);1;inference_gpu;0;"),
            std::string::npos)
      << text;

  const fs::path path = temp_path("rows.csv");
  duet::bench::write_bench_csv(path.string(), rows);
  const auto back = duet::bench::read_bench_csv(path.string());
  ASSERT_EQ(back.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i);
    expect_same(rows[i], back[i]);
  }
  EXPECT_EQ(slurp(path), text);
  fs::remove(path);
}

TEST(BenchCsv, ReadsTheStudysNineColumnLayout) {
  const auto rows = duet::bench::parse_bench_csv(kStudyCsv, "train.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].framework, "tf1");
  EXPECT_EQ(rows[0].architecture, "resnet18");
  EXPECT_EQ(rows[0].input_size, 128);
  EXPECT_EQ(rows[0].batch_size, 1);
  EXPECT_EQ(rows[0].mode, "train");
  EXPECT_EQ(rows[0].gpu_index, 0);
  ASSERT_TRUE(rows[0].time_s);
  EXPECT_DOUBLE_EQ(*rows[0].time_s, 0.0192942357063293);
  EXPECT_EQ(rows[0].memory_mb, 4679.0);
  EXPECT_FALSE(rows[0].median_s);
  EXPECT_FALSE(rows[0].device_total_mb);

  EXPECT_EQ(rows[1].framework, "tf2");
  EXPECT_EQ(rows[1].input_size, 320);
  EXPECT_EQ(rows[1].batch_size, 32);
  EXPECT_FALSE(rows[1].time_s);
  EXPECT_FALSE(rows[1].memory_mb);

  EXPECT_EQ(rows[2].framework, "pytorch");
  EXPECT_DOUBLE_EQ(*rows[2].time_s, 0.010440683364868164);
  EXPECT_EQ(rows[2].cuda_graph, "");
  EXPECT_EQ(rows[2].graph_path, "");
}

TEST(BenchCsv, ReadsTheElevenColumnLayoutWithoutGraphColumns) {
  const auto rows = duet::bench::parse_bench_csv(
      ";Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;Device "
      "total\n0;graph;resnet18;(224, 224, 3);1;inference_cpu;;0.0177;96.0;0.0176;-\n",
      "duet_inf.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].framework, "graph");
  EXPECT_EQ(rows[0].cuda_graph, "");
  EXPECT_EQ(rows[0].graph_path, "");
  EXPECT_EQ(rows[0].precision, "fp32");  // no Precision column: fp32
  ASSERT_TRUE(rows[0].median_s);
  EXPECT_DOUBLE_EQ(*rows[0].median_s, 0.0176);
}

// The 13-column layout before --precision (bench/results/*.csv) reads as fp32; a Precision
// column is read by name wherever it is, and its series name carries the precision.
TEST(BenchCsv, PrecisionColumnIsOptionalAndDefaultsToFp32) {
  const std::string head =
      ";Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;Device "
      "total;CUDA graph;Graph path";
  const auto old = duet::bench::parse_bench_csv(
      head + "\n0;graph;resnet50;(224, 224, 3);8;inference_cpu;;0.25;-;0.24;-;-;compile\n",
      "old.csv");
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].precision, "fp32");
  EXPECT_EQ(old[0].series(), "graph");
  const auto rows = duet::bench::parse_bench_csv(
      ";Precision" + head +
          "\n0;bf16;graph;resnet50;(224, 224, 3);8;inference_cpu;;0.08;-;0.07;-;-;compile\n"
          "1;-;eager;resnet50;(224, 224, 3);8;inference_cpu;;0.3;-;0.3;-;-;-\n",
      "new.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].precision, "bf16");
  EXPECT_EQ(rows[0].framework, "graph");
  EXPECT_EQ(rows[0].series(), "graph bf16");
  EXPECT_DOUBLE_EQ(*rows[0].time_s, 0.08);
  EXPECT_EQ(rows[1].precision, "fp32");  // "-": fp32
  try {
    duet::bench::parse_bench_csv(
        head + ";Precision\n0;graph;resnet50;(224, 224, 3);8;train;;0.25;-;0.24;-;-;-;int8\n",
        "bad.csv");
    FAIL() << "expected duet::Error";
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2: column 'Precision' has 'int8', expected "
                                         "fp32, bf16 or fp16"),
              std::string::npos)
        << e.what();
  }
}

TEST(BenchCsv, ErrorsNameTheFileAndLine) {
  try {
    duet::bench::parse_bench_csv(
        ";Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory\n"
        "0;eager;resnet18;(128, 128, 3);eight;train;;0.1;-\n",
        "bad.csv");
    FAIL() << "expected duet::Error";
  } catch (const duet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Batch size"), std::string::npos) << e.what();
  }
  EXPECT_THROW(duet::bench::parse_bench_csv(";Framework;Mode\n0;eager;train\n", "x.csv"),
               duet::Error);
  EXPECT_THROW(duet::bench::read_bench_csv("/nonexistent-dir/none.csv"), duet::Error);
  EXPECT_THROW(duet::bench::write_bench_csv("/nonexistent-dir/out.csv", {}), duet::Error);
}

TEST(PlotSvg, RelativeTimesAreAgainstTheFastestAtEachPoint) {
  std::vector<BenchRow> rows = {
      row("eager", "mobilenet_v2", 128, 1, "train", 0.030),
      row("graph", "mobilenet_v2", 128, 1, "train", 0.020),
      row("pytorch", "mobilenetv2", 128, 1, "train", 0.050),  // the study's spelling: same point
      row("eager", "mobilenet_v2", 128, 8, "train", 0.100),
      row("graph", "mobilenet_v2", 128, 8, "train", std::nullopt),   // "-"
      row("eager", "mobilenet_v2", 128, 1, "inference_cpu", 0.004),  // another mode
      row("graph", "resnet18", 128, 1, "train", 0.040),              // another architecture
  };
  const auto rel = duet::bench::relative_times(rows);
  ASSERT_EQ(rel.size(), rows.size());
  EXPECT_NEAR(*rel[0], 1.5, 1e-12);
  EXPECT_NEAR(*rel[1], 1.0, 1e-12);
  EXPECT_NEAR(*rel[2], 2.5, 1e-12);
  EXPECT_NEAR(*rel[3], 1.0, 1e-12);
  EXPECT_FALSE(rel[4]);
  EXPECT_NEAR(*rel[5], 1.0, 1e-12);
  EXPECT_NEAR(*rel[6], 1.0, 1e-12);
  EXPECT_EQ(duet::bench::architecture_key("EfficientNet_B4"), "efficientnetb4");
}

TEST(PlotSvg, WritesOnePanelPerArchitectureAndALegendEntryPerFramework) {
  const std::vector<std::string> archs = {"resnet18", "resnet50", "vgg16", "mobilenet_v2"};
  const std::vector<std::string> fws = {"eager", "graph", "pytorch-eager"};
  std::vector<BenchRow> rows;
  double t = 0.01;
  for (const auto& a : archs)
    for (int64_t size : {128, 224})
      for (int64_t batch : {1, 8})
        for (size_t f = 0; f < fws.size(); ++f) {
          const bool oom = a == "vgg16" && size == 224 && batch == 8 && f == 1;
          rows.push_back(row(fws[f], a, size, batch, "train",
                             oom ? std::nullopt : std::optional<double>(t * (1 + 0.3 * f))));
          t *= 1.01;
        }
  const fs::path path = temp_path("fig.svg");
  duet::bench::write_relative_time_svg(path.string(), rows, "duet & PyTorch <train>");
  const std::string svg = slurp(path);
  fs::remove(path);

  ASSERT_EQ(svg.rfind("<svg", 0), 0u) << svg.substr(0, 100);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("duet &amp; PyTorch &lt;train&gt;"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"section-title\""), 1u);
  EXPECT_NE(svg.find("Training step"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"panel-title\""), archs.size());
  for (const auto& a : archs) EXPECT_EQ(count(svg, ">" + a + "</text>"), 1u) << a;
  EXPECT_EQ(count(svg, "<text class=\"legend\""), fws.size());
  for (const auto& f : fws) EXPECT_NE(svg.find(">" + f + "</text>"), std::string::npos) << f;
  EXPECT_NE(svg.find("128\u00d71<"), std::string::npos);
  EXPECT_NE(svg.find("224\u00d78<"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("\"inf"), std::string::npos);
  EXPECT_EQ(svg.find("\"-inf"), std::string::npos);
  EXPECT_EQ(count(svg, "<g"), count(svg, "</g>"));
  // 4 panels x 3 frameworks x 4 points, less the one "-" point.
  EXPECT_EQ(count(svg, "<circle cx="), 4u * 3u * 4u - 1u + fws.size() /* legend swatches */);
}

TEST(PlotSvg, GroupsModesIntoSectionsAndThrowsOnAnUnwritablePath) {
  std::vector<BenchRow> rows = duet::bench::parse_bench_csv(kStudyCsv, "train.csv");
  rows.push_back(row("eager", "resnet18", 128, 1, "inference_cpu", 0.01));
  rows.push_back(row("graph", "resnet18", 128, 1, "inference_cpu", 0.008));
  const std::string svg = duet::bench::relative_time_svg(rows, "mixed");
  EXPECT_EQ(count(svg, "class=\"section-title\""), 2u);
  // train: resnet18 and resnet50; inference_cpu: resnet18.
  EXPECT_EQ(count(svg, "class=\"panel-title\""), 3u);
  EXPECT_LT(svg.find("Training step"), svg.find("Inference on the CPU"));
  EXPECT_EQ(count(svg, "<text class=\"legend\""), 5u);  // tf1 tf2 pytorch eager graph
  EXPECT_THROW(duet::bench::write_relative_time_svg("/nonexistent-dir/fig.svg", rows, "x"),
               duet::Error);
}

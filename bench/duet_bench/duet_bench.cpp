// duet-bench: the reference study's grid (models x input sizes x batch sizes x modes), with
// duet's eager and graph execution as the two contenders.
//
//   duet-bench                                   # the full study grid on the CPU
//   duet-bench --models resnet18,mobilenet_v2 --sizes 64 --batches 2 --steps 3 --warmup 1
//              --csv out.csv --plot out.svg
//   duet-bench --models resnet50 --sizes 224 --batches 8 --modes inference --exec graph
//              --precision fp32,bf16                # bfloat16 autocast beside float32
//   duet-bench --list --json                     # parameters, buffers, GMACs at 224
//   duet-bench --plot fig.svg --from a.csv,b.csv # re-plot saved CSVs (e.g. PyTorch's)

#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/cli.h"
#include "duet/duet.h"
#include "duet/models/zoo.h"
#include "duet/nn/module.h"
#include "duet_bench/bench_csv.h"
#include "duet_bench/plot_svg.h"
#include "duet_bench/runner.h"

using namespace duet;
using duet::bench::BenchRow;

namespace {

const char* kUsage = R"(usage: duet-bench [options]
  --models A,B,...      models (default: the study's resnet18,resnet50,resnet152,vgg16,
                        mobilenet_v2,efficientnet_b4,efficientnet_b7); --list shows all
  --sizes 128,224,320   input sizes H = W (default 128,224,320)
  --batches 1,8,16,32   batch sizes (default 1,8,16,32)
  --modes train,inference   (default both)
  --exec eager,graph    execution styles (default both)
  --precision fp32,bf16,fp16   precisions (default fp32): bf16 / fp16 run the forward pass
                        and the loss under autocast to that dtype (graph: CompileOptions::
                        autocast); fp16 training adds loss scaling; the CSV's Precision column
  --device cpu|cuda     (default cpu; cuda:N for another GPU)
  --cuda-graph on|off   CUDA graph mode: capture the step as a CUDA Graph and replay it
                        (default on; recorded in the CSV's 'CUDA graph' column)
  --tf32                CUDA: allow TF32 math in matmul and convolution (default off)
  --deterministic       CUDA: only deterministic cuDNN algorithms
  --steps N             timed steps per point (default 100)
  --warmup N            untimed steps first (default 5; graph mode on CUDA runs at least 3:
                        uncaptured, capture, first replay)
  --threads N           CPU threads (default: all cores)
  --memory-limit-mb N   allocator limit; a point past it is out of memory, recorded as '-'
                        (default: 80% of physical memory; on CUDA, the GPU's capacity)
  --seed N              (default 0)
  --csv FILE            write the results in the study's CSV layout
  --plot FILE           write the relative-time figure (SVG)
  --from A.csv,B.csv    also read these CSVs (e.g. bench/pytorch_reference.py's) into the
                        table and figure; with --steps 0 nothing is run
  --list                list the models (with --json: one JSON object)
  --json                print one JSON object as the last stdout line
)";

std::vector<int64_t> split_ints(const std::string& flag, const std::string& s) {
  std::vector<int64_t> out;
  for (const std::string& item : examples::split_list(s)) {
    size_t pos = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    DUET_CHECK(pos == item.size() && v > 0, "duet-bench: ", flag,
               " expects positive integers, got '", item, "'");
    out.push_back(v);
  }
  DUET_CHECK(!out.empty(), "duet-bench: ", flag, " is empty");
  return out;
}

int64_t numel_sum(const nn::StateDict& d) {
  int64_t n = 0;
  for (const auto& [name, t] : d) n += t.numel();
  return n;
}

int list_models(bool json) {
  std::ostringstream js;
  js << "{";
  if (!json) std::printf("| model | parameters | buffers | GMACs @224 |\n|---|---|---|---|\n");
  bool first = true;
  for (const std::string& name : models::model_names()) {
    Generator gen(0);
    auto net = models::create_model(name, 1000, gen);
    const int64_t params = net->num_parameters();
    const int64_t buffers = numel_sum(net->named_buffers());
    const double gmacs = bench::forward_gmacs(*net, 224);
    if (json) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "%s\"%s\": {\"parameters\": %lld, \"buffers\": %lld, \"gflops_224\": %.3f}",
                    first ? "" : ", ", name.c_str(), static_cast<long long>(params),
                    static_cast<long long>(buffers), gmacs);
      js << buf;
    } else {
      std::printf("| %s | %lld | %lld | %.2f |\n", name.c_str(), static_cast<long long>(params),
                  static_cast<long long>(buffers), gmacs);
    }
    first = false;
  }
  js << "}";
  if (json) std::printf("%s\n", js.str().c_str());
  return 0;
}

std::string fmt_ms(const std::optional<double>& s) {
  if (!s) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", *s * 1e3);
  return buf;
}

std::string fmt_mb(const std::optional<double>& mb) {
  if (!mb) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", *mb);
  return buf;
}

const char* or_dash(const std::string& s) {
  return s.empty() ? "-" : s.c_str();
}

void print_markdown(const std::vector<BenchRow>& rows) {
  std::printf(
      "| framework | model | input | batch | mode | mean ms | median ms | peak MB | device MB | "
      "cuda graph | precision |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const BenchRow& r : rows)
    std::printf("| %s | %s | %lld | %lld | %s | %s | %s | %s | %s | %s | %s |\n",
                r.framework.c_str(), r.architecture.c_str(), static_cast<long long>(r.input_size),
                static_cast<long long>(r.batch_size), r.mode.c_str(), fmt_ms(r.time_s).c_str(),
                fmt_ms(r.median_s).c_str(), fmt_mb(r.memory_mb).c_str(),
                fmt_mb(r.device_total_mb).c_str(), or_dash(r.cuda_graph), r.precision.c_str());
}

std::string json_string(const std::string& s) {
  return s.empty() ? "null" : "\"" + s + "\"";
}

std::string json_number(const std::optional<double>& v) {
  if (!v) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", *v);
  return buf;
}

int64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::Cli cli(argc, argv, "duet-bench", kUsage);
    if (cli.help()) {
      std::cout << kUsage;
      return 0;
    }
    const bool list = cli.flag("--list");
    const bool json = cli.flag("--json");
    const std::vector<std::string> model_list = examples::split_list(
        cli.get("--models",
                "resnet18,resnet50,resnet152,vgg16,mobilenet_v2,efficientnet_b4,efficientnet_b7"));
    const std::vector<int64_t> sizes = split_ints("--sizes", cli.get("--sizes", "128,224,320"));
    const std::vector<int64_t> batches = split_ints("--batches", cli.get("--batches", "1,8,16,32"));
    const std::vector<std::string> modes =
        examples::split_list(cli.get("--modes", "train,inference"));
    const std::vector<std::string> execs = examples::split_list(cli.get("--exec", "eager,graph"));
    std::vector<examples::Precision> precisions;
    for (const std::string& p : examples::split_list(cli.get("--precision", "fp32")))
      precisions.push_back(examples::parse_precision("duet-bench", "--precision", p));
    DUET_CHECK(!precisions.empty(),
               "duet-bench: --precision is empty (expected fp32, bf16 or fp16)");
    const std::string device_name = cli.get("--device", "cpu");
    const bool tf32 = cli.flag("--tf32");
    const bool deterministic = cli.flag("--deterministic");
    const std::string cuda_graph_flag = cli.get("--cuda-graph", "on");
    const int64_t steps = cli.get_int("--steps", 100, 0);
    const int64_t warmup = cli.get_int("--warmup", 5, 0);
    const int64_t threads = cli.get_int("--threads", 0, 0);
    const int64_t limit_mb = cli.get_int("--memory-limit-mb", 0, 0);
    const int64_t seed = cli.get_int("--seed", 0, 0);
    const std::string csv = cli.get("--csv", "");
    const std::string plot = cli.get("--plot", "");
    const std::vector<std::string> from = examples::split_list(cli.get("--from", ""));
    cli.finish();

    if (list) return list_models(json);

    DUET_CHECK(cuda_graph_flag == "on" || cuda_graph_flag == "off", "duet-bench: --cuda-graph ",
               cuda_graph_flag, " (expected on or off)");
    const bool cuda_graph = cuda_graph_flag == "on";
    const Device device = parse_device(device_name);  // throws when not available
    set_cuda_allow_tf32(tf32);
    set_cuda_deterministic(deterministic);
    for (const std::string& m : modes)
      DUET_CHECK(m == "train" || m == "inference", "duet-bench: --modes ", m,
                 " is not a mode (expected train or inference)");
    for (const std::string& e : execs)
      DUET_CHECK(e == "eager" || e == "graph", "duet-bench: --exec ", e,
                 " is not an execution style (expected eager or graph)");
    for (const std::string& m : model_list) models::require_model(m, "duet-bench");
    if (threads > 0) set_num_threads(static_cast<int>(threads));
    // Default: 80% of RAM on the CPU; the GPU's own capacity on CUDA (cudaMalloc failing).
    const int64_t limit = limit_mb > 0                     ? limit_mb << 20
                          : device.type == DeviceType::cpu ? physical_memory_bytes() / 10 * 8
                                                           : 0;
    set_memory_limit(device, limit);

    std::vector<BenchRow> rows;
    for (const std::string& f : from) {
      std::vector<BenchRow> r = bench::read_bench_csv(f);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    const size_t total = steps > 0 ? model_list.size() * sizes.size() * batches.size() *
                                         modes.size() * execs.size() * precisions.size()
                                   : 0;
    size_t done = 0;
    for (const std::string& model : model_list)
      for (int64_t size : sizes)
        for (int64_t batch : batches)
          for (const std::string& mode : modes)
            for (const std::string& exec : execs)
              for (const examples::Precision& precision : precisions) {
                if (total == 0) continue;
                bench::PointSpec spec{.model = model,
                                      .size = size,
                                      .batch = batch,
                                      .train = mode == "train",
                                      .graph = exec == "graph",
                                      .device = device,
                                      .cuda_graph = cuda_graph,
                                      .steps = steps,
                                      .warmup = warmup,
                                      .seed = static_cast<uint64_t>(seed),
                                      .autocast = precision.autocast};
                bench::PointResult r = bench::run_point(spec);
                BenchRow row{.framework = exec,
                             .architecture = model,
                             .input_size = size,
                             .batch_size = batch,
                             .mode = mode == "train"                  ? "train"
                                     : device.type == DeviceType::cpu ? "inference_cpu"
                                                                      : "inference_gpu",
                             .precision = precision.name};
                if (device.type == DeviceType::cuda) row.gpu_index = device.index;
                if (spec.graph && device.type == DeviceType::cuda)
                  row.cuda_graph = cuda_graph ? "on" : "off";
                if (spec.graph)
                  row.graph_path = bench::uses_cuda_graph(spec) ? "compile+cuda-graph" : "compile";
                if (!r.out_of_memory) {
                  row.time_s = r.mean_s();
                  row.median_s = r.median_s();
                  row.memory_mb = static_cast<double>(r.peak_bytes) / (1 << 20);
                  if (device.type == DeviceType::cuda)
                    row.device_total_mb = static_cast<double>(r.device_used_bytes) / (1 << 20);
                }
                rows.push_back(row);
                ++done;
                if (r.out_of_memory)
                  std::fprintf(stderr, "[%zu/%zu] %s %s %s %s %lldx%lld: out of memory (%s)\n",
                               done, total, exec.c_str(), precision.name.c_str(), model.c_str(),
                               mode.c_str(), static_cast<long long>(size),
                               static_cast<long long>(batch), r.error.c_str());
                else {
                  std::string extra;
                  if (spec.graph) extra = ", compile " + std::to_string(int(r.compile_ms)) + " ms";
                  if (bench::uses_cuda_graph(spec))
                    extra += ", cuda graph on (" + std::to_string(r.num_captures) +
                             (r.num_captures == 1 ? " capture" : " captures") + ")";
                  else if (spec.graph && device.type == DeviceType::cuda)
                    extra += ", cuda graph off";
                  if (r.warmup_run != warmup)
                    extra += ", " + std::to_string(r.warmup_run) + " warm-up steps";
                  std::fprintf(
                      stderr,
                      "[%zu/%zu] %s %s %s %s %lldx%lld: mean %.2f ms, median %.2f ms, peak "
                      "%.1f MB%s\n",
                      done, total, exec.c_str(), precision.name.c_str(), model.c_str(),
                      mode.c_str(), static_cast<long long>(size), static_cast<long long>(batch),
                      r.mean_s() * 1e3, r.median_s() * 1e3, *row.memory_mb, extra.c_str());
                }
                std::fflush(stderr);
                if (!csv.empty()) bench::write_bench_csv(csv, rows);  // keep what is done
              }

    if (!csv.empty()) bench::write_bench_csv(csv, rows);
    if (!plot.empty())
      bench::write_relative_time_svg(plot, rows, "duet-bench: time relative to the fastest");
    if (!json) {
      print_markdown(rows);
    } else {
      std::ostringstream js;
      js << "{\"points\": [";
      for (size_t i = 0; i < rows.size(); ++i) {
        const BenchRow& r = rows[i];
        js << (i ? ", " : "") << "{\"framework\": \"" << r.framework << "\", \"model\": \""
           << r.architecture << "\", \"size\": " << r.input_size << ", \"batch\": " << r.batch_size
           << ", \"mode\": \"" << r.mode << "\", \"mean_s\": " << json_number(r.time_s)
           << ", \"median_s\": " << json_number(r.median_s)
           << ", \"peak_mb\": " << json_number(r.memory_mb)
           << ", \"device_mb\": " << json_number(r.device_total_mb)
           << ", \"cuda_graph\": " << json_string(r.cuda_graph)
           << ", \"graph_path\": " << json_string(r.graph_path) << ", \"precision\": \""
           << r.precision << "\"}";
      }
      js << "]}";
      std::printf("%s\n", js.str().c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

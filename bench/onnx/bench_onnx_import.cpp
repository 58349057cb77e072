// Inference time of an imported ONNX model in duet's graph mode, against duet's own zoo model
// of the same architecture (bench/onnx/run_bench.sh adds ONNX Runtime and prints the table).
//
//   bench_onnx_import MODEL.onnx ZOO_NAME [--threads 2] [--warmup 3] [--steps 10] [--profile]
//                     [--serve]
//
// Both run compiled (Model::compile / duet::compile of the eval graph, every pass) at the
// ONNX model's fixed input shape, on the same random input, with duet::set_num_threads(N).
// Steps alternate between the two executables so load from other processes hits both alike.
// Prints one JSON line: {"model": ..., "batch": ..., "threads": ..., "import_ms": median,
// "zoo_ms": median, "import_nodes"/"zoo_nodes": compiled node counts, "import_steps": [...],
// "zoo_steps": [...]} (milliseconds per step).
// --profile: also prints both executables' per-op time tables (Executable::profile) on stderr.
// --serve: after the warm-up, times single steps on request (stdin "i" / "z" / "q"), for
// bench/onnx/compare_ort.py's interleaved run against ONNX Runtime.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "duet/graph.h"
#include "duet/models.h"
#include "duet/onnx.h"
#include "duet/ops.h"
#include "duet/random.h"
#include "duet/threads.h"

namespace {

double now_ms() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.2f", i ? ", " : "", v[i]);
    s += buf;
  }
  return s + "]";
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::cerr << "usage: bench_onnx_import MODEL.onnx ZOO_NAME [--threads N] [--warmup N] "
                 "[--steps N]\n";
    return 2;
  }
  std::string path = argv[1], zoo_name = argv[2];
  int threads = 2, warmup = 3, steps = 10;
  bool profile = false, serve = false;
  for (int i = 3; i < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--profile" || a == "--serve") {
      (a == "--profile" ? profile : serve) = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << a << " needs a value\n";
      return 2;
    }
    int v = std::atoi(argv[i + 1]);
    if (a == "--threads") {
      threads = v;
    } else if (a == "--warmup") {
      warmup = v;
    } else if (a == "--steps") {
      steps = v;
    } else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  duet::set_num_threads(threads);

  auto model = duet::onnx::load(path);
  const auto& in = model->inputs().at(0);
  duet::Shape shape(in.dims.begin(), in.dims.end());
  for (int64_t d : shape) {
    if (d < 0) throw duet::Error(path + ": the benchmark needs a fixed input shape");
  }
  duet::Generator gen(0);
  duet::Tensor x = duet::Tensor::randn(shape, gen);
  duet::Executable imported = model->compile({shape});

  auto zoo = duet::models::create_model(zoo_name, 1000, gen);
  zoo->eval();
  duet::Graph g;
  duet::Tensor logits = (*zoo)(g.input("x", shape));
  duet::Executable own = duet::compile(g, {logits});

  auto step = [&](duet::Executable& exe, const std::string& name) {
    double t0 = now_ms();
    auto out = exe.run({{name, x}});
    (void)out[0].data_ptr();
    return now_ms() - t0;
  };
  for (int i = 0; i < warmup; ++i) {
    step(imported, in.name);
    step(own, "x");
  }
  if (serve) {
    // Driven step by step by bench/onnx/compare_ort.py, which interleaves ONNX Runtime's steps
    // with these: "i" times one step of the imported model, "z" one of the zoo model (the
    // milliseconds are printed on a line), "q" quits.
    std::printf("ready %zu %zu\n", imported.num_nodes(), own.num_nodes());
    std::fflush(stdout);
    for (std::string cmd; std::getline(std::cin, cmd) && cmd != "q";) {
      if (cmd != "i" && cmd != "z") {
        std::fprintf(stderr, "bench_onnx_import: unknown command '%s'\n", cmd.c_str());
        return 2;
      }
      std::printf("%.3f\n", cmd == "i" ? step(imported, in.name) : step(own, "x"));
      std::fflush(stdout);
    }
    return 0;
  }
  std::vector<double> t_import, t_zoo;
  for (int i = 0; i < steps; ++i) {
    t_import.push_back(step(imported, in.name));
    t_zoo.push_back(step(own, "x"));
  }
  if (profile) {
    std::cerr << "== imported\n"
              << imported.profile({{in.name, x}}, 3) << "== zoo\n"
              << own.profile({{"x", x}}, 3);
  }
  std::printf(
      "{\"model\": \"%s\", \"file\": \"%s\", \"batch\": %lld, \"threads\": %d, "
      "\"import_ms\": %.2f, \"zoo_ms\": %.2f, \"import_nodes\": %zu, \"zoo_nodes\": %zu, "
      "\"import_steps\": %s, \"zoo_steps\": %s}\n",
      zoo_name.c_str(), path.c_str(), static_cast<long long>(shape[0]), duet::num_threads(),
      median(t_import), median(t_zoo), imported.num_nodes(), own.num_nodes(),
      json_list(t_import).c_str(), json_list(t_zoo).c_str());
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_onnx_import: " << e.what() << "\n";
  return 1;
}

// bf16_zoo_accuracy: low-precision inference of every zoo model against its own float32 run
// (issue #14's accuracy bar: within 2e-2 relative of the fp32 logits, the same top-1 on at
// least 99% of 1,000 random inputs). Random weights and batch-norm statistics, N(0, 1) images.
//
//   bf16_zoo_accuracy                                  # every model, 1000 inputs at 32x32
//   bf16_zoo_accuracy --models resnet18,mobilenet_v2 --inputs 200 --size 64 --mode eager
//   bf16_zoo_accuracy --precision fp16 --json --check  # exit 1 when a model misses a bar
//   bf16_zoo_accuracy --num-classes 10                 # classify_check.py's 10-class heads
//
// Relative error of a sample: max_j |fp32_j - low_j| / max_j |fp32_j| over its K logits; the
// table reports the max (and the mean) over the samples. Top-1: the share of samples whose
// argmax is the same in both runs; "flip margin": over the samples whose top-1 changed, the
// largest fp32 margin between the two classes, over max |fp32| (near ties flip). Exit code 0 (with
// --check: 1 when a model misses a bar), 1 with "error: ..." on bad flags.
#include <cstdio>
#include <iostream>
#include <string>

#include "common/cli.h"
#include "duet/models/zoo.h"
#include "duet/threads.h"
#include "duet_bench/zoo_accuracy.h"

using namespace duet;

namespace {

const char* kUsage = R"(usage: bf16_zoo_accuracy [options]
  --models A,B,...   zoo models (default: every one, duet-bench --list)
  --precision P      bf16 (default) or fp16: the autocast dtype compared with fp32
  --mode graph|eager compiled eval graphs (CompileOptions::autocast; default) or eager
                     (duet::autocast around the forward pass)
  --inputs N         random images per model (default 1000)
  --size N           image height and width (default 32)
  --batch N          images per forward pass (default 50)
  --num-classes K    classifier outputs (default 1000; tests/examples/classify_check.py
                     uses 10)
  --seed N           weights, batch-norm statistics and images (default 0)
  --threads N        CPU threads (default: all cores)
  --max-rel X        the relative-error bar (default 0.02)
  --min-top1 X       the top-1 agreement bar (default 0.99)
  --check            exit 1 when a model misses a bar
  --json             one JSON object per model on stdout instead of the table
)";

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::Cli cli(argc, argv, "bf16_zoo_accuracy", kUsage);
    if (cli.help()) {
      std::cout << kUsage;
      return 0;
    }
    std::vector<std::string> names = examples::split_list(cli.get("--models", ""));
    if (names.empty()) names = models::model_names();
    const examples::Precision precision = examples::parse_precision(
        "bf16_zoo_accuracy", "--precision", cli.get("--precision", "bf16"));
    const std::string mode = cli.get("--mode", "graph");
    const int64_t inputs = cli.get_int("--inputs", 1000);
    const int64_t size = cli.get_int("--size", 32);
    const int64_t batch = cli.get_int("--batch", 50);
    const int64_t classes = cli.get_int("--num-classes", 1000);
    const int64_t seed = cli.get_int("--seed", 0, 0);
    const int64_t threads = cli.get_int("--threads", 0, 0);
    const double max_rel = cli.get_double("--max-rel", 0.02);
    const double min_top1 = cli.get_double("--min-top1", 0.99);
    const bool check = cli.flag("--check");
    const bool json = cli.flag("--json");
    cli.finish();
    DUET_CHECK(precision.low(), "bf16_zoo_accuracy: --precision fp32 compares fp32 with itself ",
               "(expected bf16 or fp16)");
    DUET_CHECK(mode == "graph" || mode == "eager", "bf16_zoo_accuracy: --mode ", mode,
               " is not a mode (expected eager or graph)");
    for (const std::string& m : names) models::require_model(m, "bf16_zoo_accuracy");
    if (threads > 0) set_num_threads(static_cast<int>(threads));

    if (!json) {
      std::printf(
          "%s vs fp32, %s mode, %lld random inputs of 3x%lldx%lld per model, %lld classes, "
          "seed %lld\n",
          precision.name.c_str(), mode.c_str(), static_cast<long long>(inputs),
          static_cast<long long>(size), static_cast<long long>(size),
          static_cast<long long>(classes), static_cast<long long>(seed));
      std::printf(
          "| model | max rel. error | mean rel. error | top-1 same | flip margin | max abs logit "
          "| s | bars |\n|---|---|---|---|---|---|---|---|\n");
    }
    int missed = 0;
    for (const std::string& m : names) {
      const bench::ZooAccuracy a = bench::measure_zoo_accuracy({.model = m,
                                                                .size = size,
                                                                .inputs = inputs,
                                                                .batch = batch,
                                                                .dtype = *precision.autocast,
                                                                .graph = mode == "graph",
                                                                .seed = static_cast<uint64_t>(seed),
                                                                .num_classes = classes});
      const bool ok = a.max_rel_error <= max_rel && a.top1_agreement() >= min_top1;
      missed += !ok;
      if (json)
        std::printf(
            "{\"model\": \"%s\", \"precision\": \"%s\", \"mode\": \"%s\", \"size\": %lld, "
            "\"classes\": %lld, \"inputs\": %lld, \"max_rel_error\": %.4g, \"mean_rel_error\": "
            "%.4g, "
            "\"top1_same\": %lld, \"top1_agreement\": %.4f, \"max_flip_margin\": %.3g, "
            "\"max_abs_logit\": %.4g, "
            "\"seconds\": %.1f, \"pass\": %s}\n",
            m.c_str(), precision.name.c_str(), mode.c_str(), static_cast<long long>(size),
            static_cast<long long>(classes), static_cast<long long>(a.inputs), a.max_rel_error,
            a.mean_rel_error, static_cast<long long>(a.top1_same), a.top1_agreement(),
            a.max_flip_margin, a.max_abs_logit, a.seconds, ok ? "true" : "false");
      else
        std::printf("| %s | %.3g | %.3g | %lld/%lld (%.1f%%) | %.2g | %.3g | %.0f | %s |\n",
                    m.c_str(), a.max_rel_error, a.mean_rel_error,
                    static_cast<long long>(a.top1_same), static_cast<long long>(a.inputs),
                    100 * a.top1_agreement(), a.max_flip_margin, a.max_abs_logit, a.seconds,
                    ok ? "met" : "MISSED");
      std::fflush(stdout);
    }
    if (!json)
      std::printf("bars: max rel. error <= %g, top-1 same >= %g: %d of %zu models missed\n",
                  max_rel, min_top1, missed, names.size());
    return check && missed ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

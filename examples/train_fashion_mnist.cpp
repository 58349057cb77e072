// Trains the Fashion-MNIST CNN (duet::models::fashion_cnn) and reports test accuracy.
//
//   train_fashion_mnist --mode eager --epochs 3 --json
//   train_fashion_mnist --device cuda --mode graph --epochs 1   # CUDA Graph replay per step
//
// Exit code 0 on success, 1 with a one-line message on any error.
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>

#include "common/cli.h"
#include "duet/data.h"
#include "duet/duet.h"
#include "duet/jit.h"
#include "duet/models/fashion_cnn.h"
#include "duet/optim.h"

using namespace duet;

namespace {

const char* kUsage = R"(usage: train_fashion_mnist [options]
  --mode eager|graph   execution mode (default eager)
  --device cpu|cuda    device (default cpu; cuda:N for another GPU)
  --no-cuda-graph      graph mode on CUDA: launch kernel by kernel instead of capturing
                       each compiled step as a CUDA Graph and replaying it
  --epochs N           epochs (default 3)
  --batch-size N       mini-batch size (default 64)
  --lr X               Adam learning rate (default 0.001), cosine-decayed over the epochs
  --seed N             seed for weights, shuffling and dropout (default 0)
  --data DIR           Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)
  --limit N            use only the first N training images (default all)
  --json               print one JSON object as the last stdout line
)";

struct Options {
  std::string mode = "eager", device = "cpu", data = data::kFashionMnistDir;
  int64_t epochs = 3, batch_size = 64, seed = 0, limit = 0;
  double lr = 1e-3;
  bool json = false;
  bool cuda_graph = true;  // graph mode on CUDA: CompileOptions::cuda_graph
};

// Fraction of correct argmax predictions over a dataset, in eval mode without a tape.
// `forward` is the eager module call or a compiled eval graph.
double evaluate(nn::Module& net, const data::Dataset& ds, Device device,
                const std::function<Tensor(const Tensor&)>& forward) {
  NoGradGuard no_grad;
  net.eval();
  int64_t correct = 0;
  const int64_t n = ds.size(), bs = 1000;
  for (int64_t at = 0; at < n; at += bs) {
    const int64_t end = std::min(n, at + bs);
    Tensor logits = forward(ds.images.slice(0, at, end).contiguous().to(device));
    Tensor hit = eq(argmax(logits, 1), ds.labels.slice(0, at, end).to(device));
    correct += sum(hit.to(int64)).item<int64_t>();
  }
  net.train();
  return static_cast<double>(correct) / static_cast<double>(n);
}

int run(const Options& o) {
  DUET_CHECK(o.mode == "eager" || o.mode == "graph", "train_fashion_mnist: --mode ", o.mode,
             " is not a mode (expected eager or graph)");
  const Device device = parse_device(o.device);  // throws when the device is not available

  manual_seed(static_cast<uint64_t>(o.seed));
  Generator gen(static_cast<uint64_t>(o.seed));
  data::Dataset train = data::load_fashion_mnist(o.data, /*train=*/true, /*normalize=*/true);
  data::Dataset test = data::load_fashion_mnist(o.data, /*train=*/false, /*normalize=*/true);
  if (o.limit > 0 && o.limit < train.size()) {
    train.images = train.images.slice(0, 0, o.limit).contiguous();
    train.labels = train.labels.slice(0, 0, o.limit).contiguous();
  }
  auto net = models::fashion_cnn(gen);
  net->to(device);  // before the optimizer: its state follows the parameters' device
  optim::Adam opt(net->parameters(), o.lr);
  // Cosine decay over the epochs: the learning rate is a tensor the compiled step reads, so
  // the schedule needs no recompilation in graph mode.
  optim::CosineAnnealingLR schedule(opt, o.epochs);
  data::DataLoader loader(train.images, train.labels, o.batch_size, /*shuffle=*/true,
                          static_cast<uint64_t>(o.seed));

  // Eager: run the module and the tape. Graph: the same code traced once per batch shape (and
  // device: batches are moved to `device` before the call) into a compiled training step
  // (forward, backward, Adam update) and an eval graph; on CUDA each is captured as a CUDA
  // Graph on its second run and replayed after that, unless --no-cuda-graph.
  const bool graph = o.mode == "graph";
  JitFunction train_step = jit(
      [&](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{cross_entropy((*net)(in[0]), in[1])};
      },
      {.training = true, .optimizer = &opt, .cuda_graph = o.cuda_graph}, "train_step");
  JitFunction eval_step =
      jit([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{(*net)(in[0])}; },
          {.training = false, .cuda_graph = o.cuda_graph}, "eval");
  auto step = [&](const Tensor& x, const Tensor& y) -> double {
    if (graph) return train_step({x, y})[0].item<double>();
    opt.zero_grad();
    Tensor loss = cross_entropy((*net)(x), y);
    loss.backward();
    opt.step();
    return loss.item<double>();
  };
  auto forward = [&](const Tensor& x) { return graph ? eval_step({x})[0] : (*net)(x); };

  if (!o.json)
    std::cout << "train_fashion_mnist: mode " << o.mode << " on " << device.str()
              << (graph && device.type == DeviceType::cuda
                      ? (o.cuda_graph ? " (CUDA Graph replay)" : " (no CUDA Graph)")
                      : "")
              << ", " << train.size() << " training images, " << net->num_parameters()
              << " parameters\n";
  reset_peak_memory(device);
  double last_loss = 0, accuracy = 0, total_images = 0, total_seconds = 0;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    int64_t seen = 0, steps = 0;
    for (auto& batch : loader) {
      loss_sum += step(batch.x.to(device), batch.y.to(device));
      seen += batch.x.size(0);
      ++steps;
      if (steps % 20 == 0 || steps == loader.num_batches())
        examples::progress(static_cast<int>(epoch), static_cast<int>(o.epochs), steps,
                           loader.num_batches(), loss_sum / steps,
                           seen / examples::seconds_since(t0));
    }
    const double secs = examples::seconds_since(t0);
    total_images += static_cast<double>(seen);
    total_seconds += secs;
    last_loss = loss_sum / static_cast<double>(std::max<int64_t>(steps, 1));
    accuracy = evaluate(*net, test, device, forward);
    schedule.step();
    if (!o.json)
      std::printf("epoch %lld: train loss %.4f, test accuracy %.4f, %.0f images/s\n",
                  static_cast<long long>(epoch), last_loss, accuracy, seen / secs);
  }
  const MemoryStats mem = memory_stats(device);
  const double ips = total_seconds > 0 ? total_images / total_seconds : 0;
  std::printf(
      "{\"mode\": \"%s\", \"device\": \"%s\", \"cuda_graph\": %s, \"epochs\": %lld, "
      "\"batch_size\": %lld, \"test_accuracy\": %.4f, \"train_loss\": %.4f, "
      "\"images_per_second\": %.1f, \"peak_memory_bytes\": %lld}\n",
      o.mode.c_str(), o.device.c_str(),
      graph && device.type == DeviceType::cuda ? (o.cuda_graph ? "true" : "false") : "null",
      static_cast<long long>(o.epochs), static_cast<long long>(o.batch_size), accuracy, last_loss,
      ips, static_cast<long long>(mem.peak_bytes));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::Cli cli(argc, argv, "train_fashion_mnist", kUsage);
    if (cli.help()) {
      std::cout << kUsage;
      return 0;
    }
    Options o;
    o.mode = cli.get("--mode", o.mode);
    o.device = cli.get("--device", o.device);
    o.epochs = cli.get_int("--epochs", o.epochs);
    o.batch_size = cli.get_int("--batch-size", o.batch_size);
    o.seed = cli.get_int("--seed", o.seed, 0);
    o.limit = cli.get_int("--limit", o.limit, 0);
    o.lr = cli.get_double("--lr", o.lr);
    o.data = cli.get("--data", o.data);
    o.json = cli.flag("--json");
    o.cuda_graph = !cli.flag("--no-cuda-graph");
    cli.finish();
    return run(o);
  } catch (const duet::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

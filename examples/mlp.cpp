// A first look at the API: the 64-64-10 MLP on flattened Fashion-MNIST images, trained with
// SGD + momentum for one epoch, written with nn modules and a hand-written training loop.
//
//   mlp [--epochs N] [--data DIR]
#include <cstdio>
#include <iostream>

#include "common/cli.h"
#include "duet/data.h"
#include "duet/duet.h"
#include "duet/nn.h"
#include "duet/optim.h"

using namespace duet;

int main(int argc, char** argv) {
  try {
    examples::Cli cli(argc, argv, "mlp", "usage: mlp [--epochs N] [--data DIR]\n");
    if (cli.help()) {
      std::cout << cli.usage();
      return 0;
    }
    const int64_t epochs = cli.get_int("--epochs", 1);
    const std::string dir = cli.get("--data", data::kFashionMnistDir);
    cli.finish();

    manual_seed(0);
    auto train = data::load_fashion_mnist(dir, true, true);
    auto test = data::load_fashion_mnist(dir, false, true);

    // 784 -> 64 -> 64 -> 10
    auto net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 64),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(64, 64),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(64, 10)});
    std::cout << *net << "\n";
    optim::SGD opt(net->parameters(), /*lr=*/0.05, /*momentum=*/0.9);
    data::DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = 0});

    for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
      double loss_sum = 0;
      int64_t steps = 0;
      for (auto& b : loader) {
        opt.zero_grad();
        Tensor loss = cross_entropy((*net)(b.x), b.y);
        loss.backward();
        opt.step();
        loss_sum += loss.item<double>();
        ++steps;
      }
      NoGradGuard no_grad;
      Tensor pred = argmax((*net)(test.images()), 1);
      double acc =
          sum(eq(pred, test.labels()).to(int64)).item<int64_t>() / static_cast<double>(test.size());
      std::printf("epoch %lld: train loss %.4f, test accuracy %.4f\n",
                  static_cast<long long>(epoch), loss_sum / steps, acc);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

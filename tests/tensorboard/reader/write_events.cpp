// Writes the event files that check_events.py reads back with TensorBoard's EventAccumulator
// (ctest tensorboard_reader), and the raw values it compares them with.
//
//   tensorboard_write_events DIR
//     DIR/writer/           SummaryWriter: scalars, histograms, images, text, a graph
//     DIR/fit/{train,validation}/
//                           the TensorBoard callback, driven by hand for 2 epochs of 3 steps
//     DIR/fit_real/{train,validation}/
//                           the callback in duet::train::fit (2 epochs, eager); the History
//                           fit returned in DIR/raw/history.txt ("epoch name value" lines)
//     DIR/raw/*.f32         the histogram and image source values (float32, row-major)
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "duet/data.h"
#include "duet/duet.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/tensorboard.h"
#include "duet/train.h"
#include "duet/train/fit.h"
#include "duet/train/metrics.h"

namespace {

using duet::Tensor;

void write_f32(const std::string& path, const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
}

struct Net : duet::nn::Module {
  std::shared_ptr<duet::nn::Linear> fc1, fc2;
  Net() : Module("Net") {
    fc1 = register_module("fc1", std::make_shared<duet::nn::Linear>(4, 8));
    fc2 = register_module("fc2", std::make_shared<duet::nn::Linear>(8, 3));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(duet::relu((*fc1)(x))); }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tensorboard_write_events DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  try {
    std::filesystem::create_directories(dir + "/raw");
    duet::Generator gen(7);
    auto net = std::make_shared<Net>();
    {
      duet::tensorboard::SummaryWriter w(dir + "/writer");
      for (int step = 0; step < 10; ++step) w.add_scalar("loss/train", 1.0 / (step + 1), step);
      w.add_scalar("lr", 0.001, 0);
      Tensor normal = Tensor::randn({40, 25}, gen);
      write_f32(dir + "/raw/normal.f32", normal);
      w.add_histogram("weights/normal", normal, 3);
      Tensor wide = duet::mul(Tensor::randn({500}, gen), Tensor::scalar(1e6));
      write_f32(dir + "/raw/wide.f32", wide);
      w.add_histogram("weights/wide", wide, 4);
      // Images: (3, 5, 7) RGB with values outside [0, 1] (clipped), (1, 4, 6) gray.
      Tensor rgb = duet::sub(duet::mul(Tensor::rand({3, 5, 7}, gen), Tensor::scalar(1.2)),
                             Tensor::scalar(0.1));
      write_f32(dir + "/raw/rgb.f32", rgb);
      w.add_image("samples/rgb", rgb, 1);
      Tensor gray = Tensor::rand({1, 4, 6}, gen);
      write_f32(dir + "/raw/gray.f32", gray);
      w.add_image("samples/gray", gray, 2);
      w.add_text("config", "lr=0.001, **batch** 64", 0);
      w.add_graph(*net, {2, 4});
    }
    // The callback, as fit drives it: 2 epochs of 3 steps, per-step scalars every 2 steps.
    duet::optim::SGD opt(net->parameters(), 0.1);
    auto tb = std::make_shared<duet::train::TensorBoard>(
        dir + "/fit", duet::train::TensorBoardOptions{.update_freq = 2});
    duet::train::FitState s;
    s.model = net.get();
    s.optimizer = &opt;
    s.epochs = 2;
    s.steps_per_epoch = 3;
    s.gradients = [&] {
      std::vector<Tensor> g;
      for (const auto& p : opt.params()) g.push_back(p.grad());
      return g;
    };
    tb->on_train_begin(s);
    for (s.epoch = 0; s.epoch < 2; ++s.epoch) {
      tb->on_epoch_begin(s);
      for (s.batch = 0; s.batch < 3; ++s.batch) {
        opt.zero_grad();
        Tensor x = Tensor::randn({5, 4}, gen);
        Tensor loss = duet::mean(duet::mul((*net)(x), (*net)(x)));
        loss.backward();
        opt.step();
        ++s.global_step;
        duet::train::Logs logs;
        logs.set("loss", 0.5 + s.global_step);
        logs.set("lr", 0.1);
        tb->on_batch_end(s, logs);
      }
      duet::train::Logs logs;
      logs.set("loss", 1.0 / (s.epoch + 1));
      logs.set("accuracy", 0.5 + 0.25 * static_cast<double>(s.epoch));
      logs.set("lr", 0.1);
      logs.set("val_loss", 2.0 / (s.epoch + 1));
      logs.set("val_accuracy", 0.4 + 0.25 * static_cast<double>(s.epoch));
      tb->on_epoch_end(s, logs);
      for (const auto& [name, p] : net->named_parameters())
        write_f32(dir + "/raw/epoch" + std::to_string(s.epoch) + "_" + name + ".f32", p);
    }
    tb->on_train_end(s);

    // Through fit: a 2-class problem, 2 epochs of 4 steps, with validation.
    Tensor x = Tensor::randn({32, 4}, gen);
    std::vector<double> x0 = x.to_vector<double>(), labels(32);
    for (size_t i = 0; i < 32; ++i) labels[i] = x0[4 * i] > 0 ? 1 : 0;
    Tensor y = Tensor::from_vector(labels, {32}, duet::int64);
    duet::data::DataLoader train(x, y, /*batch_size=*/8, /*shuffle=*/true, /*seed=*/0);
    duet::data::DataLoader val(x, y, /*batch_size=*/16, /*shuffle=*/false);
    auto net2 = std::make_shared<Net>();
    duet::optim::SGD opt2(net2->parameters(), 0.1);
    auto tb2 = std::make_shared<duet::train::TensorBoard>(dir + "/fit_real");
    duet::train::History h =
        duet::train::fit(*net2, duet::train::cross_entropy_loss, opt2, train,
                         {.epochs = 2,
                          .validation = &val,
                          .metrics = {std::make_shared<duet::train::Accuracy>()},
                          .callbacks = {tb2},
                          .progress = duet::train::Progress::none});
    std::ofstream history(dir + "/raw/history.txt");
    history.precision(17);
    for (size_t e = 0; e < h.epochs.size(); ++e)
      for (const auto& [name, value] : h.epochs[e].items())
        history << e << " " << name << " " << value << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  std::cout << "wrote " << dir << "\n";
  return 0;
}

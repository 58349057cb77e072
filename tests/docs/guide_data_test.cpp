// docs/guide.md, "Data: datasets, the DataLoader, transforms" and "Saving weights; checkpoints
// that resume": their snippets line for line, run, with what their comments promise checked.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "duet/data.h"
#include "duet/duet.h"
#include "duet/io.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train.h"
#include "duet/train/fit.h"

namespace {

namespace fs = std::filesystem;

struct Squares : duet::data::Dataset {
  int64_t size() const override { return 1000; }
  duet::data::Example get(int64_t i) const override {
    double v = static_cast<double>(i) / 1000;
    return {duet::Tensor::full({1}, v), duet::Tensor::full({1}, v * v)};
  }
};

std::string temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() /
                     ("duet_guide_data_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::vector<std::vector<float>> weights(const duet::nn::Module& m) {
  std::vector<std::vector<float>> v;
  for (const auto& [k, t] : m.state_dict()) v.push_back(t.to_vector<float>());
  return v;
}

// A small classifier with dropout (the default generator matters on resume).
std::shared_ptr<duet::nn::Sequential> make_net(uint64_t seed) {
  duet::Generator g(seed);
  return std::make_shared<duet::nn::Sequential>(std::vector<std::shared_ptr<duet::nn::Module>>{
      std::make_shared<duet::nn::Flatten>(), std::make_shared<duet::nn::Linear>(16, 8, true, g),
      std::make_shared<duet::nn::ReLU>(), std::make_shared<duet::nn::Dropout>(0.2),
      std::make_shared<duet::nn::Linear>(8, 3, true, g)});
}

duet::data::TensorDataset toy_data() {
  duet::Generator g(9);
  duet::Tensor x = duet::Tensor::randn({40, 1, 4, 4}, g);
  std::vector<int64_t> y;
  for (int i = 0; i < 40; ++i) y.push_back(i % 3);
  return duet::data::TensorDataset(x, duet::Tensor::from_vector(y, {40}));
}

}  // namespace

TEST(GuideData, TensorDataset) {
  duet::Generator gen(1);
  duet::Tensor images = duet::Tensor::rand({100, 1, 28, 28}, gen);  // 100 samples
  duet::Tensor labels = duet::Tensor::zeros({100}, duet::int64);
  duet::data::TensorDataset ds(images, labels);
  int64_t n = ds.size();                  // 100
  duet::data::Example ex = ds.get(7);     // ex.x: (1, 28, 28), ex.y: () int64, copies of row 7
  EXPECT_EQ(n, 100);
  EXPECT_EQ(ex.x.shape(), (duet::Shape{1, 28, 28}));
  EXPECT_EQ(ex.y.shape(), (duet::Shape{}));
  EXPECT_EQ(ex.y.dtype(), duet::int64);
  EXPECT_EQ(ex.x.to_vector<float>()[3], images.to_vector<float>()[7 * 784 + 3]);
  EXPECT_NE(ex.x.data_ptr(), images.data_ptr());

  using namespace duet::data;
  Transform augment = Compose({RandomCrop(28, /*padding=*/4), RandomHorizontalFlip(0.5),
                               Normalize({0.2860}, {0.3530})});
  Transform noisy = [](const duet::Tensor& x, duet::Generator& g) {
    return duet::add(x, duet::Tensor::randn(x.shape(), g));  // your own: any (x, gen) function
  };
  DataLoader train_loader(ds, {.batch_size = 32, .seed = 1, .num_workers = 2,
                               .transform = Compose({augment, noisy})});
  auto batch = train_loader.next();  // batch->x: (32, 1, 28, 28), each sample augmented
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->x.shape(), (duet::Shape{32, 1, 28, 28}));
  // The same loader settings with 0 workers give the same augmented batch.
  DataLoader again(ds, {.batch_size = 32, .seed = 1, .num_workers = 0,
                        .transform = Compose({augment, noisy})});
  EXPECT_EQ(again.next()->x.to_vector<float>(), batch->x.to_vector<float>());
}

TEST(GuideData, OwnDatasetAndLoader) {
  duet::data::DataLoader loader(std::make_shared<Squares>(),
                                {.batch_size = 64, .shuffle = true, .seed = 0, .num_workers = 2});
  int64_t seen = 0;
  for (int epoch = 0; epoch < 2; ++epoch) {
    for (auto& batch : loader) {
      seen += batch.x.size(0);  // batch.x: (64, 1), batch.y: (64, 1)
    }
  }
  // seen == 2000; each epoch's last batch holds 1000 % 64 = 40 examples
  EXPECT_EQ(seen, 2000);
  EXPECT_EQ(loader.epoch(), 1);
  std::vector<int64_t> sizes;
  for (auto& batch : loader) {
    sizes.push_back(batch.x.size(0));
    EXPECT_EQ(batch.x.dim(), 2);
    const auto x = batch.x.to_vector<float>();
    const auto y = batch.y.to_vector<float>();
    EXPECT_NEAR(y[0], x[0] * x[0], 1e-6);
  }
  ASSERT_EQ(sizes.size(), 16u);
  EXPECT_EQ(sizes.front(), 64);
  EXPECT_EQ(sizes.back(), 40);
}

TEST(GuideData, FashionMnist) {
  if (!fs::is_directory(duet::data::kFashionMnistDir)) GTEST_SKIP() << "no Fashion-MNIST";
  auto fashion = duet::data::load_fashion_mnist();  // the default directory, training set
  // fashion.images(): (60000, 1, 28, 28) float32 in [0, 1]; fashion.labels(): (60000) int64
  EXPECT_EQ(fashion.images().shape(), (duet::Shape{60000, 1, 28, 28}));
  EXPECT_EQ(fashion.labels().shape(), (duet::Shape{60000}));
}

TEST(GuideData, FromBlob) {
  std::vector<float> pixels(28 * 28, 0.5f);
  duet::Tensor view = duet::Tensor::from_blob(pixels.data(), {1, 28, 28});  // no copy
  pixels[0] = 1.0f;  // view.to_vector<float>()[0] is 1 now
  float* owned = new float[4]{1, 2, 3, 4};
  duet::Tensor t = duet::Tensor::from_blob(owned, {2, 2}, duet::float32,
                                           [](void* p) { delete[] static_cast<float*>(p); });
  EXPECT_EQ(view.to_vector<float>()[0], 1.0f);
  EXPECT_EQ(view.to_vector<float>()[1], 0.5f);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
}

TEST(GuideCheckpoints, WeightsAndAHandWrittenResume) {
  const std::string dir = temp_dir("hand");
  const std::string weights_path = dir + "/w.safetensors";
  const std::string ckpt_path = dir + "/ckpt.safetensors";
  const duet::data::TensorDataset data = toy_data();
  auto net = make_net(1);
  auto net2 = make_net(2);
  duet::io::save_weights(*net, weights_path);  // the state dict: parameters and buffers
  duet::io::load_weights(*net2, weights_path);  // net2 now holds net's values
  EXPECT_EQ(weights(*net2), weights(*net));

  // The uninterrupted run: 2 epochs.
  auto train_epoch = [](duet::nn::Module& m, duet::optim::Optimizer& o,
                        duet::optim::LRScheduler& s, duet::data::DataLoader& l) {
    for (auto& b : l) {
      o.zero_grad();
      duet::cross_entropy(m(b.x), b.y).backward();
      o.step();
    }
    s.step();
  };
  const duet::data::DataLoaderOptions lo{.batch_size = 10, .seed = 3, .num_workers = 2,
                                         .transform = duet::data::RandomHorizontalFlip()};
  duet::manual_seed(5);
  auto straight = make_net(1);
  duet::optim::SGD opt_s(straight->parameters(), 0.1, 0.9);
  duet::optim::StepLR sched_s(opt_s, 1, 0.5);
  duet::data::DataLoader loader_s(data, lo);
  train_epoch(*straight, opt_s, sched_s, loader_s);
  train_epoch(*straight, opt_s, sched_s, loader_s);

  // 1 epoch, a checkpoint, then fresh objects.
  duet::manual_seed(5);
  duet::optim::SGD opt(net->parameters(), 0.1, 0.9);
  duet::optim::StepLR sched(opt, 1, 0.5);
  duet::data::DataLoader loader(data, lo);
  train_epoch(*net, opt, sched, loader);
  duet::train::save_checkpoint(ckpt_path, {.model = net.get(), .optimizer = &opt,
                                           .scheduler = &sched, .loader = &loader,
                                           .epoch = 1, .global_step = 4,
                                           .metadata = {{"note", "after epoch 1"}}});
  duet::manual_seed(77);
  net2 = make_net(3);
  duet::optim::SGD opt2(net2->parameters(), 0.1, 0.9);
  duet::optim::StepLR sched2(opt2, 1, 0.5);
  duet::data::DataLoader loader2(data, lo);
  duet::train::CheckpointInfo info = duet::train::load_checkpoint(
      ckpt_path, {.model = net2.get(), .optimizer = &opt2, .scheduler = &sched2,
                  .loader = &loader2});
  // info.epoch == 1, info.global_step == 4, info.metadata.at("note") == "after epoch 1"
  for (int64_t epoch = info.epoch; epoch < 2; ++epoch) {
    for (auto& b : loader2) {  // epoch 1's batches, as the uninterrupted run saw them
      opt2.zero_grad();
      duet::cross_entropy((*net2)(b.x), b.y).backward();
      opt2.step();
    }
    sched2.step();
  }
  // net2's weights are now those of 2 epochs straight, bit for bit (on the CPU)
  EXPECT_EQ(info.epoch, 1);
  EXPECT_EQ(info.global_step, 4);
  EXPECT_EQ(info.metadata.at("note"), "after epoch 1");
  EXPECT_EQ(weights(*net2), weights(*straight));
  EXPECT_EQ(opt2.lr(), opt_s.lr());
  fs::remove_all(dir);
}

TEST(GuideCheckpoints, ModelCheckpointAndFitResume) {
  const std::string dir = temp_dir("fit");
  const duet::data::TensorDataset data = toy_data();
  const duet::data::DataLoaderOptions lo{.batch_size = 10, .seed = 3, .num_workers = 1};
  std::ostringstream quiet;
  const duet::train::FitOptions straight_options{
      .epochs = 4, .progress = duet::train::Progress::none, .progress_stream = &quiet};
  duet::manual_seed(5);
  auto straight = make_net(1);
  duet::optim::Adam opt_s(straight->parameters(), 0.01);
  duet::data::DataLoader loader_s(data, lo);
  duet::train::fit(*straight, duet::train::cross_entropy_loss, opt_s, loader_s, straight_options);

  duet::manual_seed(5);
  auto net = make_net(1);
  duet::optim::Adam opt(net->parameters(), 0.01);
  duet::data::DataLoader loader(data, lo);
  auto net2 = make_net(2);  // the fresh objects of the resumed run
  duet::optim::Adam opt2(net2->parameters(), 0.01);
  duet::data::DataLoader loader2(data, lo);
  testing::internal::CaptureStdout();
  auto saver = std::make_shared<duet::train::ModelCheckpoint>(duet::train::ModelCheckpointOptions{
      .last = dir + "/last.safetensors", .best = dir + "/best-{epoch}.safetensors",
      .monitor = "loss", .mode = "min"});
  duet::train::fit(*net, duet::train::cross_entropy_loss, opt, loader,
                   {.epochs = 2, .callbacks = {saver}});
  // ... later, into fresh objects:
  auto resumed = duet::train::load_checkpoint(dir + "/last.safetensors",
                                              {.model = net2.get(), .optimizer = &opt2,
                                               .loader = &loader2});
  duet::train::fit(*net2, duet::train::cross_entropy_loss, opt2, loader2,
                   {.epochs = 4, .initial_epoch = resumed.epoch, .callbacks = {saver}});
  testing::internal::GetCapturedStdout();
  EXPECT_EQ(resumed.epoch, 2);
  EXPECT_EQ(resumed.global_step, 8);
  EXPECT_EQ(weights(*net2), weights(*straight));  // bit for bit, dropout included
  EXPECT_TRUE(fs::exists(dir + "/best-1.safetensors"));
  EXPECT_EQ(duet::train::read_checkpoint_info(dir + "/last.safetensors").epoch, 4);
  fs::remove_all(dir);
}

// docs/guide.md, "TensorBoard": its snippets, run, with what their comments promise checked by
// reading the event files back (tests/tensorboard/event_reader.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "duet/data.h"
#include "duet/duet.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/tensorboard.h"
#include "duet/train.h"
#include "duet/train/fit.h"
#include "duet/train/metrics.h"
#include "tensorboard/event_reader.h"

namespace {

namespace fs = std::filesystem;
using namespace duet::test::tb;

struct Net : duet::nn::Module {
  std::shared_ptr<duet::nn::Linear> fc;
  Net() : Module("Net") { fc = register_module("fc", std::make_shared<duet::nn::Linear>(784, 10)); }
  duet::Tensor forward(const duet::Tensor& x) override { return (*fc)(x); }
};

TEST(GuideTensorBoard, SummaryWriter) {
  const std::string log_dir = fresh_dir("guide");
  auto net = std::make_shared<Net>();
  duet::Generator gen(1);
  {
    duet::tensorboard::SummaryWriter writer(log_dir + "/exp1");  // creates the directory
    for (int step = 0; step < 100; ++step) {
      double loss = 1.0 / (step + 1);
      writer.add_scalar("loss/train", loss, step);  // one point of the "loss/train" curve
    }
    writer.add_histogram("fc.weight", net->fc->weight, /*step=*/100);
    duet::Tensor image = duet::Tensor::rand({3, 28, 28}, gen);  // (C, H, W) in [0, 1]
    writer.add_image("sample", image, 100);
    writer.add_text("config", "lr = 0.01, batch 64");  // under "config/text_summary"
    writer.add_graph(*net, {1, 784});  // the model, traced for one input of this shape
    writer.flush();                    // close() and the destructor flush too

    auto values = summary_values(event_file_in(log_dir + "/exp1"));
    ASSERT_EQ(values.size(), 103u);
    EXPECT_EQ(values[42].tag, "loss/train");
    EXPECT_EQ(values[42].step, 42);
    EXPECT_EQ(values[42].value.f32(2), static_cast<float>(1.0 / 43));
    EXPECT_EQ(values[100].tag, "fc.weight");
    EXPECT_EQ(decode(values[100].value.bytes(5)).f64(3), 7840);  // num
    EXPECT_EQ(values[101].tag, "sample");
    EXPECT_EQ(decode(values[101].value.bytes(4)).i64(2), 28);  // width
    EXPECT_EQ(values[102].tag, "config/text_summary");
    EXPECT_EQ(read_records(event_file_in(log_dir + "/exp1")).size(), 105u);  // + header, graph

    std::string what;
    try {
      writer.add_image("bad", duet::Tensor::zeros({2, 8, 8}));
    } catch (const duet::Error& e) {
      what = e.what();  // "SummaryWriter::add_image('bad'): shape (2, 8, 8) has 2 channels, ..."
    }
    EXPECT_EQ(what.rfind("SummaryWriter::add_image('bad'): shape (2, 8, 8) has 2 channels, ", 0),
              0u)
        << what;
  }
  fs::remove_all(log_dir);
}

TEST(GuideTensorBoard, Callback) {
  const std::string log_dir = fresh_dir("guide_callback");
  auto net = std::make_shared<Net>();
  duet::Generator gen(2);
  duet::Tensor x = duet::Tensor::randn({64, 784}, gen);
  duet::Tensor y = duet::Tensor::from_vector(std::vector<double>(64, 3.0), {64}, duet::int64);
  duet::data::DataLoader train_loader(x, y, /*batch_size=*/4, /*shuffle=*/true, /*seed=*/0);
  duet::data::DataLoader test_loader(x, y, /*batch_size=*/32, /*shuffle=*/false);
  duet::optim::SGD opt(net->parameters(), 0.01);
  testing::internal::CaptureStdout();  // fit's progress lines
  auto tb = std::make_shared<duet::train::TensorBoard>(
      log_dir + "/fit",
      duet::train::TensorBoardOptions{.update_freq = 10, .graph_input_shape = duet::Shape{1, 784}});
  duet::train::fit(*net, duet::train::cross_entropy_loss, opt, train_loader,
                   {.epochs = 3, .validation = &test_loader, .callbacks = {tb}});
  // log_dir/fit/train: epoch_loss, epoch_lr (steps 0, 1, 2), batch_loss (steps 10, 20, ...),
  // weights/fc.weight, gradients/fc.weight, ...; log_dir/fit/validation: epoch_loss
  testing::internal::GetCapturedStdout();

  std::map<std::string, std::vector<int64_t>> steps;  // tag -> steps
  for (const auto& v : summary_values(event_file_in(log_dir + "/fit/train")))
    steps[v.tag].push_back(v.step);
  EXPECT_EQ(steps["epoch_loss"], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(steps["epoch_lr"], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(steps["batch_loss"], (std::vector<int64_t>{10, 20, 30, 40}));  // 48 steps in all
  EXPECT_EQ(steps["weights/fc.weight"], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(steps["gradients/fc.weight"], (std::vector<int64_t>{0, 1, 2}));
  std::map<std::string, std::vector<int64_t>> val_steps;
  for (const auto& v : summary_values(event_file_in(log_dir + "/fit/validation")))
    val_steps[v.tag].push_back(v.step);
  EXPECT_EQ(val_steps["epoch_loss"], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_FALSE(val_steps.count("epoch_lr"));
  // The graph: the header, then the graph event before the first scalar.
  auto records = read_records(event_file_in(log_dir + "/fit/train"));
  EXPECT_TRUE(decode(records[1]).has(4));
  fs::remove_all(log_dir);
}

}  // namespace

// docs/guide.md, "TensorBoard": its snippets, run, with what their comments promise checked by
// reading the event files back (tests/tensorboard/event_reader.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "duet/duet.h"
#include "duet/nn.h"
#include "duet/tensorboard.h"
#include "duet/train.h"
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
  auto tb = std::make_shared<duet::train::TensorBoard>(
      log_dir + "/fit", duet::train::TensorBoardOptions{.update_freq = 100,
                                                        .graph_input_shape = duet::Shape{1, 784}});
  // duet::train::fit(*net, loss_fn, opt, train_loader, {.epochs = 3, .callbacks = {tb}});

  // What fit does with it, by hand: one epoch of 100 steps.
  duet::train::FitState s;
  s.model = net.get();
  tb->on_train_begin(s);
  for (s.global_step = 1; s.global_step <= 100; ++s.global_step) {
    duet::train::Logs batch;
    batch.set("loss", 2.0);
    tb->on_batch_end(s, batch);
  }
  duet::train::Logs logs;
  logs.set("loss", 1.5);
  logs.set("accuracy", 0.5);
  logs.set("val_loss", 1.75);
  tb->on_epoch_end(s, logs);
  tb->on_train_end(s);
  auto train = summary_values(event_file_in(log_dir + "/fit/train"));
  std::vector<std::string> tags;
  for (const auto& v : train) tags.push_back(v.tag);
  EXPECT_EQ(tags, (std::vector<std::string>{"batch_loss", "epoch_loss", "epoch_accuracy",
                                            "weights/fc.weight", "weights/fc.bias"}));
  EXPECT_EQ(train[0].step, 100);
  auto validation = summary_values(event_file_in(log_dir + "/fit/validation"));
  ASSERT_EQ(validation.size(), 1u);
  EXPECT_EQ(validation[0].tag, "epoch_loss");
  EXPECT_EQ(validation[0].value.f32(2), 1.75f);
  EXPECT_EQ(read_records(event_file_in(log_dir + "/fit/train")).size(), 7u);  // + header, graph
  fs::remove_all(log_dir);
}

}  // namespace

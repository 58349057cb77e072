// SummaryWriter: the event file's name and records, each summary kind decoded back field by
// field, the histogram buckets, PNG pixels decoded by libpng, and the errors.
#include "duet/tensorboard.h"

#include <gtest/gtest.h>
#ifndef DUET_HAVE_LIBPNG  // tests/CMakeLists.txt sets it when the build found libpng
#define DUET_HAVE_LIBPNG 0
#endif
#if DUET_HAVE_LIBPNG
#include <png.h>
#endif

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "duet/duet.h"
#include "duet/graph.h"
#include "duet/nn.h"
#include "event_reader.h"
#include "tensorboard/png.h"
#include "tensorboard/summary_proto.h"
#include "test_util.h"

namespace duet::tensorboard {
namespace {

namespace fs = std::filesystem;
using namespace duet::test::tb;

TEST(SummaryWriter, CreatesDirectoryAndOneEventFileWithVersionHeader) {
  std::string dir = fresh_dir("create") + "/nested/run1";
  std::string path;
  {
    SummaryWriter w(dir);
    path = w.file_path();
    EXPECT_EQ(w.log_dir(), dir);
    // The header is on disk before the first flush.
    auto records = read_records(path);
    ASSERT_EQ(records.size(), 1u);
  }
  EXPECT_EQ(event_file_in(dir), path);
  std::string name = fs::path(path).filename().string();
  EXPECT_TRUE(
      std::regex_match(name, std::regex(R"(events\.out\.tfevents\.\d{10}\.[^.]+.*\.\d+\.\d+)")))
      << name;
  auto records = read_records(path);
  ASSERT_EQ(records.size(), 1u);
  Fields e = decode(records[0]);
  EXPECT_EQ(e.bytes(3), "brain.Event:2");
  EXPECT_GT(e.f64(1), 1.6e9);  // wall time, seconds since 1970
  fs::remove_all(fs::path(dir).parent_path().parent_path());
}

TEST(SummaryWriter, ScalarsWithStepsAndWallTime) {
  std::string dir = fresh_dir("scalars");
  {
    SummaryWriter w(dir);
    for (int step = 0; step < 25; ++step) w.add_scalar("loss/train", 1.0 / (step + 1), step);
    w.add_scalar("lr", 0.001, 7, /*wall_time=*/1234.5);
  }
  auto values = summary_values(event_file_in(dir));
  ASSERT_EQ(values.size(), 26u);
  for (int step = 0; step < 25; ++step) {
    EXPECT_EQ(values[step].tag, "loss/train");
    EXPECT_EQ(values[step].step, step);
    EXPECT_EQ(values[step].value.f32(2), static_cast<float>(1.0 / (step + 1)));
  }
  EXPECT_EQ(values[25].step, 7);
  EXPECT_EQ(values[25].value.f32(2), 0.001f);
  auto records = read_records(event_file_in(dir));
  EXPECT_EQ(decode(records.back()).f64(1), 1234.5);
  fs::remove_all(dir);
}

TEST(SummaryWriter, BuffersUntilFlushOrMaxQueue) {
  std::string dir = fresh_dir("flush");
  SummaryWriter w(dir, {.max_queue = 3, .flush_secs = 1e9});
  w.add_scalar("a", 1, 0);
  w.add_scalar("a", 2, 1);
  EXPECT_EQ(read_records(w.file_path()).size(), 1u);  // header only: two events wait
  w.add_scalar("a", 3, 2);                            // the third fills the queue
  EXPECT_EQ(read_records(w.file_path()).size(), 4u);
  w.add_scalar("a", 4, 3);
  w.flush();
  EXPECT_EQ(read_records(w.file_path()).size(), 5u);
  w.close();
  EXPECT_TRUE(w.closed());
  EXPECT_DUET_ERROR(w.add_scalar("a", 5, 4),
                    "add_scalar('a'): the writer of '" + dir + "' is closed");
  w.close();  // twice is fine
  fs::remove_all(dir);
}

TEST(SummaryWriter, TwoWritersInOneDirectoryGetTwoFiles) {
  std::string dir = fresh_dir("two");
  SummaryWriter a(dir), b(dir);
  EXPECT_NE(a.file_path(), b.file_path());
  fs::remove_all(dir);
}

TEST(SummaryWriter, HistogramLikeTorchDefaultBins) {
  // torch.utils.tensorboard's default bins: 774 positive edges 1e-12 * 1.1^k < 1e20, their
  // negatives and 0.
  const auto& bins = detail::default_bins();
  ASSERT_EQ(bins.size(), 1549u);
  EXPECT_EQ(bins[774], 0.0);
  EXPECT_EQ(bins[775], 1e-12);
  EXPECT_EQ(bins[773], -1e-12);
  EXPECT_LT(bins.back(), 1e20);
  EXPECT_GT(bins.back() * 1.1, 1e20);

  // Hand-made edges: numpy.histogram's [e_i, e_i+1) buckets, the last one closed, then
  // torch's trimming (one empty bucket kept left of the first non-empty one).
  std::vector<double> edges = {0, 1, 2, 3, 4, 5, 6};
  detail::Histogram h = detail::make_histogram({2.5, 2.0, 3.0, 3.9, 6.0, 7.0}, edges);
  EXPECT_EQ(h.min, 2.0);
  EXPECT_EQ(h.max, 7.0);
  EXPECT_EQ(h.num, 6);  // 7.0 lies outside the edges: counted in num, in no bucket
  EXPECT_DOUBLE_EQ(h.sum, 24.4);
  EXPECT_DOUBLE_EQ(h.sum_squares, 2.5 * 2.5 + 4 + 9 + 3.9 * 3.9 + 36 + 49);
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{2, 3, 4, 5, 6}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 2, 2, 0, 1}));
  // A value in the first bin: a zero bucket is prepended instead.
  h = detail::make_histogram({0.5, 1.5}, edges);
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 1, 1}));

  std::string dir = fresh_dir("histogram");
  Tensor t = Tensor::from_vector({-1.5, 0.0, 0.0, 2.0, 3.25, 1e-13}, {2, 3});
  {
    SummaryWriter w(dir);
    w.add_histogram("fc1.weight", t, 3);
    w.add_histogram("ints", Tensor::from_vector({1, 2, 2}, {3}, int64), 4);
  }
  auto values = summary_values(event_file_in(dir));
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].tag, "fc1.weight");
  EXPECT_EQ(values[0].step, 3);
  Fields histo = decode(values[0].value.bytes(5));
  detail::Histogram expected = detail::make_histogram(t.to_vector<double>());
  EXPECT_EQ(histo.f64(1), -1.5);
  EXPECT_EQ(histo.f64(2), 3.25);
  EXPECT_EQ(histo.f64(3), 6);
  EXPECT_EQ(histo.f64(4), -1.5 + 2.0 + 3.25 + static_cast<float>(1e-13));
  EXPECT_EQ(packed_doubles(histo.bytes(6)), expected.bucket_limit);
  EXPECT_EQ(packed_doubles(histo.bytes(7)), expected.bucket);
  double total = 0;
  for (double c : expected.bucket) total += c;
  EXPECT_EQ(total, 6);
  // 0.0 lands in [0, 1e-12), so the bucket whose right edge is 1e-12 holds the two zeros and
  // 1e-13.
  for (size_t i = 0; i < expected.bucket_limit.size(); ++i) {
    if (expected.bucket_limit[i] == 1e-12) {
      EXPECT_EQ(expected.bucket[i], 3);
    }
  }
  Fields ints = decode(values[1].value.bytes(5));
  EXPECT_EQ(ints.f64(1), 1);
  EXPECT_EQ(ints.f64(2), 2);
  EXPECT_EQ(ints.f64(5), 9);
  fs::remove_all(dir);
}

// Decodes a PNG into (H, W, C) bytes with libpng's simplified API; without libpng, checks the
// signature and the IHDR size only and returns no pixels.
std::vector<uint8_t> decode_png(const std::string& png, int channels, uint32_t& w, uint32_t& h) {
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n"));
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(png[at + i]);
    return v;
  };
  w = be32(16);
  h = be32(20);
#if DUET_HAVE_LIBPNG
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_memory(&image, png.data(), png.size())) << image.message;
  image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  std::vector<uint8_t> out(PNG_IMAGE_SIZE(image));
  EXPECT_TRUE(png_image_finish_read(&image, nullptr, out.data(), 0, nullptr)) << image.message;
  EXPECT_EQ(image.width, w);
  EXPECT_EQ(image.height, h);
  return out;
#else
  (void)channels;
  return {};
#endif
}

TEST(Png, BothEncodersDecodeToTheSamePixels) {
  EXPECT_EQ(detail::png_uses_libpng(), DUET_HAVE_LIBPNG != 0);
  for (int c : {1, 3, 4}) {
    const int64_t h = 37, w = 53;  // rows of odd length
    std::vector<uint8_t> px(static_cast<size_t>(h * w * c));
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 7919) >> 3);
    for (const std::string& png : {detail::encode_png(px.data(), h, w, c, "test"),
                                   detail::encode_png_zlib(px.data(), h, w, c, "test")}) {
      uint32_t dw = 0, dh = 0;
      std::vector<uint8_t> back = decode_png(png, c, dw, dh);
      EXPECT_EQ(dw, w);
      EXPECT_EQ(dh, h);
      if (DUET_HAVE_LIBPNG) {
        EXPECT_EQ(back, px) << c << " channels";
      }
    }
  }
  EXPECT_DUET_ERROR(detail::encode_png_zlib(nullptr, 0, 5, 3, "where"),
                    "where: image of 0 x 5 pixels, expected 1 to 1,000,000 per side");
  EXPECT_DUET_ERROR(detail::encode_png(nullptr, 5, 5, 2, "where"),
                    "where: 2 channels, expected 1, 3 or 4");
}

TEST(SummaryWriter, ImagesArePngWithTorchScaling) {
  std::string dir = fresh_dir("images");
  // (3, 2, 4) RGB in [0, 1] with values outside, clipped; pixel (y, x) channel c.
  std::vector<double> rgb(24);
  for (int i = 0; i < 24; ++i) rgb[i] = (i % 7) / 5.0 - 0.1;
  Tensor img = Tensor::from_vector(rgb, {3, 2, 4});
  Tensor gray = Tensor::from_vector({0.0, 0.5, 1.0, 0.999}, {2, 2});
  std::vector<double> rgba(2 * 3 * 4);
  for (int i = 0; i < 24; ++i) rgba[i] = (i * 37) % 256;
  Tensor bytes = Tensor::from_vector(rgba, {4, 2, 3}, int64);
  {
    SummaryWriter w(dir);
    w.add_image("rgb", img, 1);
    w.add_image("gray", gray, 2);
    w.add_image("rgba", bytes, 3);
  }
  auto values = summary_values(event_file_in(dir));
  ASSERT_EQ(values.size(), 3u);
  struct Case {
    const char* tag;
    int64_t c, h, w;
    std::vector<double> chw;
    bool floating;
  } cases[] = {{"rgb", 3, 2, 4, rgb, true},
               {"gray", 1, 2, 2, {0.0, 0.5, 1.0, 0.999}, true},
               {"rgba", 4, 2, 3, rgba, false}};
  for (size_t k = 0; k < 3; ++k) {
    const Case& c = cases[k];
    EXPECT_EQ(values[k].tag, c.tag);
    EXPECT_EQ(values[k].step, static_cast<int64_t>(k + 1));
    Fields image = decode(values[k].value.bytes(4));
    EXPECT_EQ(image.i64(1), c.h);
    EXPECT_EQ(image.i64(2), c.w);
    EXPECT_EQ(image.i64(3), c.c);
    uint32_t w = 0, h = 0;
    std::vector<uint8_t> px = decode_png(image.bytes(4), static_cast<int>(c.c), w, h);
    ASSERT_EQ(w, c.w);
    ASSERT_EQ(h, c.h);
    if (px.empty()) continue;  // no libpng to decode with (check_events.py decodes them too)
    for (int64_t ch = 0; ch < c.c; ++ch) {
      for (int64_t i = 0; i < c.h * c.w; ++i) {
        double v = c.chw[static_cast<size_t>(ch * c.h * c.w + i)];
        float f = std::min(255.0f, std::max(0.0f, static_cast<float>(v) * 255.0f));
        uint8_t expected = c.floating ? static_cast<uint8_t>(f) : static_cast<uint8_t>(v);
        EXPECT_EQ(px[static_cast<size_t>(i * c.c + ch)], expected)
            << c.tag << " channel " << ch << " pixel " << i;
      }
    }
  }
  fs::remove_all(dir);
}

TEST(SummaryWriter, TextUsesTheTextPlugin) {
  std::string dir = fresh_dir("text");
  {
    SummaryWriter w(dir);
    w.add_text("config", "lr=0.001 **bold** é", 5);
  }
  auto values = summary_values(event_file_in(dir));
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0].tag, "config/text_summary");
  EXPECT_EQ(values[0].step, 5);
  Fields metadata = decode(values[0].value.bytes(9));
  EXPECT_EQ(decode(metadata.bytes(1)).bytes(1), "text");
  Fields tensor = decode(values[0].value.bytes(8));
  EXPECT_EQ(tensor.u(1), 7u);                                    // DT_STRING
  EXPECT_EQ(decode(decode(tensor.bytes(2)).bytes(2)).u(1), 1u);  // shape (1)
  EXPECT_EQ(tensor.bytes(8), "lr=0.001 **bold** é");
  fs::remove_all(dir);
}

struct TinyNet : nn::Module {
  std::shared_ptr<nn::Linear> fc1, fc2;
  TinyNet() : Module("TinyNet") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 3));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(3, 2));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
};

TEST(SummaryWriter, GraphOfAModel) {
  std::string dir = fresh_dir("graph");
  auto net = std::make_shared<TinyNet>();
  {
    SummaryWriter w(dir);
    w.add_graph(*net, {2, 4});
  }
  auto records = read_records(event_file_in(dir));
  ASSERT_EQ(records.size(), 2u);
  Fields graph = decode(decode(records[1]).bytes(4));
  std::map<std::string, Fields> nodes;
  std::map<std::string, std::string> op_of;
  for (size_t i = 0; i < graph.count(1); ++i) {
    Fields n = decode(graph.bytes(1, i));
    op_of[n.bytes(1)] = n.bytes(2);
    nodes[n.bytes(1)] = n;
  }
  ASSERT_TRUE(nodes.count("input/input"));
  ASSERT_TRUE(nodes.count("fc1.weight"));
  ASSERT_TRUE(nodes.count("fc2.bias"));
  EXPECT_EQ(op_of["fc1.weight"], "parameter");
  int relus = 0;
  for (const auto& [name, op] : op_of) relus += op == "relu";
  EXPECT_EQ(relus, 1);
  // Every input reference names a node of the graph.
  for (const auto& [name, n] : nodes) {
    for (size_t k = 0; k < n.count(3); ++k) {
      std::string in = n.bytes(3, k);
      in = in.substr(0, in.find(':'));
      EXPECT_TRUE(nodes.count(in)) << name << " reads " << in;
    }
  }
  // "_output_shapes" of the input: one shape (2, 4).
  const Fields& input = nodes["input/input"];
  bool found = false;
  for (size_t k = 0; k < input.count(5); ++k) {
    Fields entry = decode(input.bytes(5, k));
    if (entry.bytes(1) != "_output_shapes") continue;
    Fields shape = decode(decode(decode(entry.bytes(2)).bytes(1)).bytes(7));
    ASSERT_EQ(shape.count(2), 2u);
    EXPECT_EQ(decode(shape.bytes(2, 0)).u(1), 2u);
    EXPECT_EQ(decode(shape.bytes(2, 1)).u(1), 4u);
    found = true;
  }
  EXPECT_TRUE(found);
  // An op's "source" is the model line that made it (TinyNet::forward, in this file).
  std::string relu_source;
  for (const auto& [name, n] : nodes) {
    if (op_of[name] != "relu") continue;
    for (size_t k = 0; k < n.count(5); ++k) {
      Fields entry = decode(n.bytes(5, k));
      if (entry.bytes(1) == "source") relu_source = decode(entry.bytes(2)).bytes(2);
    }
  }
  EXPECT_EQ(relu_source.rfind("summary_writer_test.cpp:", 0), 0u) << relu_source;
  EXPECT_EQ(decode(graph.bytes(4)).u(1), 22u);  // versions.producer
  fs::remove_all(dir);
}

TEST(SummaryWriter, GraphBuiltByHand) {
  std::string dir = fresh_dir("graph_by_hand");
  {
    Graph g;
    Tensor x = g.input("x", {2, 3});
    Tensor y = relu(add(x, x));
    (void)y;
    g.end_build();
    SummaryWriter w(dir);
    w.add_graph(g);
  }
  Fields graph = decode(decode(read_records(event_file_in(dir))[1]).bytes(4));
  std::vector<std::string> ops;
  for (size_t i = 0; i < graph.count(1); ++i) ops.push_back(decode(graph.bytes(1, i)).bytes(2));
  EXPECT_EQ(ops, (std::vector<std::string>{"input", "add", "relu"}));
  Fields relu_node = decode(graph.bytes(1, 2));
  EXPECT_EQ(relu_node.bytes(1), "relu_2");
  EXPECT_EQ(relu_node.bytes(3), "add_1");  // its input
  fs::remove_all(dir);
}

TEST(SummaryWriter, ThreadSafe) {
  std::string dir = fresh_dir("threads");
  {
    SummaryWriter w(dir, {.max_queue = 7});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&w, t] {
        for (int i = 0; i < 500; ++i) w.add_scalar("t" + std::to_string(t), i, i);
      });
    }
    for (auto& th : threads) th.join();
  }
  auto values = summary_values(event_file_in(dir));  // every record's CRCs are checked
  ASSERT_EQ(values.size(), 2000u);
  std::map<std::string, int64_t> next;
  for (const auto& v : values) {
    EXPECT_EQ(v.step, next[v.tag]++) << v.tag;  // each thread's steps in order
  }
  fs::remove_all(dir);
}

TEST(SummaryWriter, Errors) {
  std::string dir = fresh_dir("errors");
  fs::create_directories(dir);
  std::ofstream(dir + "/file") << "x";
  EXPECT_DUET_ERROR(
      SummaryWriter(dir + "/file/run"),
      "SummaryWriter: cannot create the log directory '" + dir + "/file/run': Not a directory");
  EXPECT_DUET_ERROR(
      SummaryWriter(dir + "/file"),
      "SummaryWriter: cannot create the log directory '" + dir + "/file': Not a directory");
  EXPECT_DUET_ERROR(SummaryWriter(""), "SummaryWriter: the log directory is an empty path");
  EXPECT_DUET_ERROR(SummaryWriter(dir, {.max_queue = 0}), "max_queue 0");
  SummaryWriter w(dir);
  EXPECT_DUET_ERROR(w.add_scalar("", 1.0), "SummaryWriter::add_scalar: empty tag");
  EXPECT_DUET_ERROR(w.add_histogram("h", Tensor::from_vector({1.0, NAN, INFINITY}, {3}), 0),
                    "SummaryWriter::add_histogram('h'): 2 of 3 values are NaN or infinite (the "
                    "first, nan, at flat index 1), expected finite values");
  EXPECT_DUET_ERROR(w.add_histogram("h", Tensor::zeros({0, 3})),
                    "add_histogram('h'): tensor of shape (0, 3) has no element");
  EXPECT_DUET_ERROR(w.add_histogram("h", Tensor::ones({2}, bool_)),
                    "add_histogram('h'): dtype bool, expected a floating dtype or int64");
  EXPECT_DUET_ERROR(w.add_histogram("h", Tensor::from_vector({1e21}, {1})),
                    "add_histogram('h'): histogram: no value lies within the bins");
  EXPECT_DUET_ERROR(w.add_image("img", Tensor::zeros({2, 4, 4})),
                    "SummaryWriter::add_image('img'): shape (2, 4, 4) has 2 channels, expected 1 "
                    "(gray), 3 (RGB) or 4 (RGBA)");
  EXPECT_DUET_ERROR(w.add_image("img", Tensor::zeros({1, 3, 4, 4})),
                    "add_image('img'): shape (1, 3, 4, 4), expected (C, H, W) or (H, W)");
  EXPECT_DUET_ERROR(w.add_image("img", Tensor::zeros({3, 0, 4})),
                    "add_image('img'): shape (3, 0, 4) has no pixel");
  EXPECT_DUET_ERROR(w.add_image("img", Tensor::ones({3, 2, 2}, bool_)),
                    "add_image('img'): dtype bool, expected a floating dtype");
  EXPECT_DUET_ERROR(w.add_image("img", Tensor::from_vector({0, 256}, {1, 2}, int64)),
                    "add_image('img'): int64 pixel 1 (flat index) is 256, expected 0 to 255");
  EXPECT_DUET_ERROR(w.add_image("img", Tensor::from_vector({0.5, NAN}, {1, 2})),
                    "add_image('img'): pixel 1 (flat index) is NaN");
  w.close();
  // Nothing but the header was written by the failed calls.
  EXPECT_EQ(read_records(w.file_path()).size(), 1u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace duet::tensorboard

// duet::tensorboard: writes TensorBoard event files (scalars, histograms, images, text, the
// model graph) that `tensorboard --logdir runs` shows.
//
//   duet::tensorboard::SummaryWriter w("runs/exp1");   // creates runs/exp1 and its file
//                                                      // events.out.tfevents.<time>.<host>...
//   w.add_scalar("loss/train", 0.31, step);            // a point of the "loss/train" curve
//   w.add_histogram("fc1.weight", net->fc1->weight, step);
//   w.add_image("samples", image, step);               // (C, H, W) in [0, 1], C = 1, 3 or 4
//   w.add_text("config", "lr=0.001", step);            // shown under "config/text_summary"
//   w.add_graph(*net, {1, 1, 28, 28});                 // traced into a duet::Graph
//   w.flush();                                         // close() and the destructor flush too
//
// The file is TensorFlow's: TFRecord framing (uint64 length, masked CRC-32C of the length,
// the bytes, masked CRC-32C of the bytes) around protobuf `Event` messages, the first one
// carrying file_version "brain.Event:2". The messages are encoded by hand
// (src/tensorboard/summary_proto.cpp), field for field as torch.utils.tensorboard writes them:
//   scalar     Summary.Value.simple_value (float32)
//   histogram  Summary.Value.histo: min, max, num, sum, sum_squares and the buckets of
//              torch.utils.tensorboard's default bins (+-1e-12 * 1.1^k up to 1e20, and 0),
//              empty leading and trailing buckets trimmed as torch does
//   image      Summary.Value.image: PNG (libpng), height, width, colorspace = channels
//   text       the text plugin: tag "<tag>/text_summary", a DT_STRING TensorProto
//   graph      Event.graph_def: a GraphDef, one NodeDef per graph node (op, inputs,
//              "_output_shapes", "dtype", and the model source line as "source")
//
// Errors are duet::Error naming the call, the tag and the offending value: an empty tag, a
// directory that cannot be created or written, an image of the wrong rank, channel count or
// dtype, an image or histogram holding NaN or infinity (a histogram of non-finite values has
// no bins; TensorFlow's own histogram op refuses them too), an empty histogram, a call after
// close(). Events are buffered and written by flush(), by close(), by the destructor, and by
// the add_* call that finds max_queue events waiting or flush_secs passed since the last write
// (no background thread). Every event is appended whole; a crash can leave a truncated last
// record, which TensorBoard skips. The writer is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "duet/shape.h"
#include "duet/tensor.h"

namespace duet {
class Graph;
namespace nn {
class Module;
}
}  // namespace duet

namespace duet::tensorboard {

struct SummaryWriterOptions {
  int max_queue = 10;             // events kept in memory before a write
  double flush_secs = 120;        // seconds after which a pending event is written
  std::string filename_suffix{};  // appended to the event file's name
};

class SummaryWriter {
 public:
  // Creates `log_dir` (and its parents) and a new event file in it.
  explicit SummaryWriter(const std::string& log_dir, SummaryWriterOptions options = {});
  ~SummaryWriter();  // close(); errors are swallowed here, call close() to see them
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;

  // `wall_time`: seconds since the epoch (default: now).
  void add_scalar(const std::string& tag, double value, int64_t step = 0,
                  std::optional<double> wall_time = std::nullopt);
  // Any floating or int64 tensor, any shape, at least one element, all finite; read on the
  // host (a CUDA tensor is copied).
  void add_histogram(const std::string& tag, const Tensor& values, int64_t step = 0,
                     std::optional<double> wall_time = std::nullopt);
  // (C, H, W) with C = 1 (gray), 3 (RGB) or 4 (RGBA), or (H, W) gray. Floating values are
  // scaled by 255 and clipped to [0, 255] (then truncated, as torch.utils.tensorboard does);
  // int64 values (duet has no uint8) are taken as bytes and must lie in [0, 255].
  void add_image(const std::string& tag, const Tensor& image, int64_t step = 0,
                 std::optional<double> wall_time = std::nullopt);
  // Shown by TensorBoard's text plugin (markdown) under "<tag>/text_summary".
  void add_text(const std::string& tag, const std::string& text, int64_t step = 0,
                std::optional<double> wall_time = std::nullopt);
  // The graph's nodes as a TensorBoard GraphDef (the "Graphs" tab). A graph still being built
  // is read as it stands.
  void add_graph(const Graph& graph);
  // Traces model(x) for a float32 input of `input_shape` into an eval Graph and adds it (the
  // model is not run: nothing is computed).
  void add_graph(nn::Module& model, const Shape& input_shape);

  void flush();  // writes the pending events
  void close();  // flush() and close the file; later add_* calls throw
  bool closed() const;
  const std::string& log_dir() const;
  const std::string& file_path() const;  // the event file

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace duet::tensorboard

// The protobuf messages of a TensorBoard event file, encoded by hand (proto_writer.h), with
// the field numbers of tensorboard/compat/proto: event.proto, summary.proto, histogram.proto,
// tensor.proto, tensor_shape.proto.
//
//   Event    { double wall_time = 1; int64 step = 2; oneof { string file_version = 3;
//              bytes graph_def = 4; Summary summary = 5; } }
//   Summary  { repeated Value value = 1; }
//   Value    { string tag = 1; SummaryMetadata metadata = 9; oneof { float simple_value = 2;
//              Image image = 4; HistogramProto histo = 5; TensorProto tensor = 8; } }
//   Image    { int32 height = 1; int32 width = 2; int32 colorspace = 3;
//              bytes encoded_image_string = 4; }
//   HistogramProto { double min = 1, max = 2, num = 3, sum = 4, sum_squares = 5;
//                    repeated double bucket_limit = 6 [packed], bucket = 7 [packed]; }
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace duet::tensorboard::detail {

struct Histogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit;  // right edges
  std::vector<double> bucket;        // counts
};

// torch.utils.tensorboard's default bins: -1e20 .. -1e-12, 0, 1e-12 .. 1e20 (factor 1.1).
const std::vector<double>& default_bins();
// torch.utils.tensorboard.summary.make_histogram(values, bins): numpy.histogram's counts over
// `edges` ([e_i, e_i+1), the last bin closed; values outside the edges are not counted but
// are in min/max/num/sum), then the empty buckets before the first and after the last
// non-empty one are dropped, keeping one empty bucket on the left. `values` must be
// non-empty and finite (checked by the caller); at least one must fall inside the edges.
Histogram make_histogram(const std::vector<double>& values,
                         const std::vector<double>& edges = default_bins());

std::string file_version_event(double wall_time);  // "brain.Event:2"
std::string scalar_event(const std::string& tag, float value, int64_t step, double wall_time);
std::string histogram_event(const std::string& tag, const Histogram& h, int64_t step,
                            double wall_time);
std::string image_event(const std::string& tag, const std::string& png, int64_t height,
                        int64_t width, int64_t channels, int64_t step, double wall_time);
// `tag` is used as given (SummaryWriter appends "/text_summary").
std::string text_event(const std::string& tag, const std::string& text, int64_t step,
                       double wall_time);
std::string graph_event(const std::string& graph_def, double wall_time);

}  // namespace duet::tensorboard::detail

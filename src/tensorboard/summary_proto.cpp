#include "tensorboard/summary_proto.h"

#include <algorithm>

#include "duet/error.h"
#include "tensorboard/proto_writer.h"

namespace duet::tensorboard::detail {
namespace {

std::string event(double wall_time, int64_t step, int what_field, const std::string& what) {
  ProtoWriter e;
  e.double_field(1, wall_time);
  if (step != 0) e.varint_field(2, step);  // proto3: a zero step is the default
  e.bytes_field(what_field, what);
  return e.release();
}

std::string summary_event(const ProtoWriter& value, int64_t step, double wall_time) {
  ProtoWriter summary;
  summary.message_field(1, value);
  return event(wall_time, step, 5, summary.bytes());
}

}  // namespace

const std::vector<double>& default_bins() {
  static const std::vector<double> bins = [] {
    std::vector<double> pos;
    for (double v = 1e-12; v < 1e20; v *= 1.1) pos.push_back(v);
    std::vector<double> all;
    all.reserve(2 * pos.size() + 1);
    for (auto it = pos.rbegin(); it != pos.rend(); ++it) all.push_back(-*it);
    all.push_back(0);
    all.insert(all.end(), pos.begin(), pos.end());
    return all;
  }();
  return bins;
}

Histogram make_histogram(const std::vector<double>& values, const std::vector<double>& edges) {
  DUET_ASSERT(!values.empty() && edges.size() >= 2, "make_histogram: ", values.size(), " values, ",
              edges.size(), " edges");
  Histogram h;
  h.min = h.max = values[0];
  std::vector<double> counts(edges.size() - 1, 0.0);
  for (double v : values) {
    h.min = std::min(h.min, v);
    h.max = std::max(h.max, v);
    h.sum += v;
    h.sum_squares += v * v;
    if (v < edges.front() || v > edges.back()) continue;
    size_t i = static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), v) -
                                   edges.begin());  // first edge > v: bin i - 1
    counts[std::min(i, counts.size()) - 1] += 1;    // v == last edge: the last bin
  }
  h.num = static_cast<double>(values.size());
  // The first and last non-empty buckets (torch: searchsorted over cumsum(counts > 0)).
  size_t first = counts.size(), last = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) {
      first = std::min(first, i);
      last = i;
    }
  }
  DUET_CHECK(first < counts.size(), "histogram: no value lies within the bins [", edges.front(),
             ", ", edges.back(), "] (min ", h.min, ", max ", h.max, ")");
  size_t end = last + 1;
  // TensorBoard reads right edges only: keep one empty bucket left of the first non-empty one.
  if (first > 0) {
    h.bucket.assign(counts.begin() + static_cast<std::ptrdiff_t>(first - 1),
                    counts.begin() + static_cast<std::ptrdiff_t>(end));
  } else {
    h.bucket.push_back(0);
    h.bucket.insert(h.bucket.end(), counts.begin(),
                    counts.begin() + static_cast<std::ptrdiff_t>(end));
  }
  h.bucket_limit.assign(edges.begin() + static_cast<std::ptrdiff_t>(first),
                        edges.begin() + static_cast<std::ptrdiff_t>(end + 1));
  return h;
}

std::string file_version_event(double wall_time) {
  return event(wall_time, 0, 3, "brain.Event:2");
}

std::string scalar_event(const std::string& tag, float value, int64_t step, double wall_time) {
  ProtoWriter v;
  v.string_field(1, tag);
  v.float_field(2, value);
  return summary_event(v, step, wall_time);
}

std::string histogram_event(const std::string& tag, const Histogram& h, int64_t step,
                            double wall_time) {
  ProtoWriter histo;
  histo.double_field(1, h.min);
  histo.double_field(2, h.max);
  histo.double_field(3, h.num);
  histo.double_field(4, h.sum);
  histo.double_field(5, h.sum_squares);
  histo.packed_doubles_field(6, h.bucket_limit);
  histo.packed_doubles_field(7, h.bucket);
  ProtoWriter v;
  v.string_field(1, tag);
  v.message_field(5, histo);
  return summary_event(v, step, wall_time);
}

std::string image_event(const std::string& tag, const std::string& png, int64_t height,
                        int64_t width, int64_t channels, int64_t step, double wall_time) {
  ProtoWriter image;
  image.varint_field(1, height);
  image.varint_field(2, width);
  image.varint_field(3, channels);  // colorspace: 1 gray, 3 RGB, 4 RGBA
  image.bytes_field(4, png);
  ProtoWriter v;
  v.string_field(1, tag);
  v.message_field(4, image);
  return summary_event(v, step, wall_time);
}

std::string text_event(const std::string& tag, const std::string& text, int64_t step,
                       double wall_time) {
  // SummaryMetadata { plugin_data { plugin_name: "text" } }: TextPluginData(version=0)
  // serializes to no bytes, so `content` is absent.
  ProtoWriter plugin_data;
  plugin_data.string_field(1, "text");
  ProtoWriter metadata;
  metadata.message_field(1, plugin_data);
  // TensorProto { dtype: DT_STRING (7), tensor_shape { dim { size: 1 } }, string_val: text }
  ProtoWriter dim;
  dim.varint_field(1, 1);
  ProtoWriter shape;
  shape.message_field(2, dim);
  ProtoWriter tensor;
  tensor.varint_field(1, 7);
  tensor.message_field(2, shape);
  tensor.bytes_field(8, text);
  ProtoWriter v;
  v.string_field(1, tag);
  v.message_field(9, metadata);
  v.message_field(8, tensor);
  return summary_event(v, step, wall_time);
}

std::string graph_event(const std::string& graph_def, double wall_time) {
  return event(wall_time, 0, 4, graph_def);
}

}  // namespace duet::tensorboard::detail

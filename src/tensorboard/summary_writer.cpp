// SummaryWriter: the event file (creation, buffering, appends) and the add_* calls, which
// validate their arguments and encode one Event each (summary_proto.h).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <system_error>
#include <vector>

#include "duet/error.h"
#include "duet/graph.h"
#include "duet/nn/module.h"
#include "duet/tensorboard.h"
#include "graph/ir.h"
#include "tensorboard/graph_def.h"
#include "tensorboard/png.h"
#include "tensorboard/record.h"
#include "tensorboard/summary_proto.h"

namespace duet::tensorboard {
namespace {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

std::atomic<int> g_file_counter{0};  // two writers of one process in one second

std::string call(const char* fn, const std::string& tag) {
  return std::string("SummaryWriter::") + fn + "('" + tag + "')";
}

}  // namespace

struct SummaryWriter::Impl {
  std::mutex mu;
  std::string log_dir, path;
  SummaryWriterOptions options;
  int fd = -1;
  std::string pending;  // framed records not yet written
  int pending_events = 0;
  double last_write = 0;

  void write_pending() {
    size_t done = 0;
    while (done < pending.size()) {
      ssize_t n = ::write(fd, pending.data() + done, pending.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = errno;
        pending.erase(0, done);  // what was written stays written; the rest is retried
        throw Error(duet::detail::cat("SummaryWriter: cannot write the event file '", path,
                                      "': ", std::strerror(err)));
      }
      done += static_cast<size_t>(n);
    }
    pending.clear();
    pending_events = 0;
    last_write = now_seconds();
  }

  void append(const char* fn, const std::string& tag, const std::string& event) {
    DUET_CHECK(fd >= 0, call(fn, tag), ": the writer of '", log_dir, "' is closed");
    pending += detail::frame_record(event);
    ++pending_events;
    if (pending_events >= options.max_queue || now_seconds() - last_write >= options.flush_secs)
      write_pending();
  }
};

SummaryWriter::SummaryWriter(const std::string& log_dir, SummaryWriterOptions options)
    : impl_(std::make_unique<Impl>()) {
  DUET_CHECK(!log_dir.empty(), "SummaryWriter: the log directory is an empty path");
  DUET_CHECK(options.max_queue >= 1 && options.flush_secs >= 0, "SummaryWriter('", log_dir,
             "'): max_queue ", options.max_queue, ", flush_secs ", options.flush_secs,
             ": expected max_queue >= 1 and flush_secs >= 0");
  DUET_CHECK(options.filename_suffix.find('/') == std::string::npos, "SummaryWriter('", log_dir,
             "'): filename_suffix '", options.filename_suffix, "' contains '/'");
  impl_->log_dir = log_dir;
  impl_->options = options;
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  DUET_CHECK(!ec, "SummaryWriter: cannot create the log directory '", log_dir, "': ", ec.message());
  double t = now_seconds();
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%010lld", static_cast<long long>(t));
  impl_->path = log_dir + "/events.out.tfevents." + stamp + "." + host_name() + "." +
                std::to_string(::getpid()) + "." + std::to_string(g_file_counter++) +
                options.filename_suffix;
  impl_->fd = ::open(impl_->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  DUET_CHECK(impl_->fd >= 0, "SummaryWriter: cannot create the event file '", impl_->path,
             "': ", std::strerror(errno));
  impl_->last_write = t;
  impl_->pending = detail::frame_record(detail::file_version_event(t));
  impl_->pending_events = 1;
  impl_->write_pending();  // TensorBoard lists the run as soon as the file has its header
}

SummaryWriter::~SummaryWriter() {
  try {
    close();
  } catch (const std::exception&) {
    // A destructor must not throw; close() reports the same error to a caller who asks.
    if (impl_->fd >= 0) ::close(impl_->fd);
    impl_->fd = -1;
  }
}

void SummaryWriter::add_scalar(const std::string& tag, double value, int64_t step,
                               std::optional<double> wall_time) {
  DUET_CHECK(!tag.empty(), "SummaryWriter::add_scalar: empty tag");
  std::lock_guard lock(impl_->mu);
  impl_->append("add_scalar", tag,
                detail::scalar_event(tag, static_cast<float>(value), step,
                                     wall_time.value_or(now_seconds())));
}

void SummaryWriter::add_histogram(const std::string& tag, const Tensor& values, int64_t step,
                                  std::optional<double> wall_time) {
  DUET_CHECK(!tag.empty(), "SummaryWriter::add_histogram: empty tag");
  const std::string where = call("add_histogram", tag);
  DUET_CHECK(values.defined(), where, ": undefined tensor");
  DUET_CHECK(is_floating(values.dtype()) || values.dtype() == int64, where, ": dtype ",
             dtype_name(values.dtype()), ", expected a floating dtype or int64");
  DUET_CHECK(values.numel() > 0, where, ": tensor of shape ", shape_str(values.shape()),
             " has no element");
  std::vector<double> v = values.to_vector<double>();
  int64_t bad = 0, first_bad = -1;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      if (bad++ == 0) first_bad = static_cast<int64_t>(i);
    }
  }
  DUET_CHECK(bad == 0, where, ": ", bad, " of ", v.size(),
             " values are NaN or infinite (the first, ",
             v[static_cast<size_t>(first_bad < 0 ? 0 : first_bad)], ", at flat index ", first_bad,
             "), expected finite values");
  detail::Histogram h;
  try {
    h = detail::make_histogram(v);
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  std::lock_guard lock(impl_->mu);
  impl_->append("add_histogram", tag,
                detail::histogram_event(tag, h, step, wall_time.value_or(now_seconds())));
}

void SummaryWriter::add_image(const std::string& tag, const Tensor& image, int64_t step,
                              std::optional<double> wall_time) {
  DUET_CHECK(!tag.empty(), "SummaryWriter::add_image: empty tag");
  const std::string where = call("add_image", tag);
  DUET_CHECK(image.defined(), where, ": undefined tensor");
  const Shape& s = image.shape();
  DUET_CHECK(s.size() == 2 || s.size() == 3, where, ": shape ", shape_str(s),
             ", expected (C, H, W) or (H, W)");
  const int64_t c = s.size() == 3 ? s[0] : 1, h = s[s.size() - 2], w = s[s.size() - 1];
  DUET_CHECK(c == 1 || c == 3 || c == 4, where, ": shape ", shape_str(s), " has ", c,
             " channels, expected 1 (gray), 3 (RGB) or 4 (RGBA)");
  DUET_CHECK(h > 0 && w > 0, where, ": shape ", shape_str(s), " has no pixel");
  const bool floating = is_floating(image.dtype());
  DUET_CHECK(floating || image.dtype() == int64, where, ": dtype ", dtype_name(image.dtype()),
             ", expected a floating dtype (values in [0, 1]) or int64 (values in [0, 255])");
  std::vector<double> v = image.to_vector<double>();  // (C, H, W) row-major
  std::vector<uint8_t> hwc(v.size());
  const size_t plane = static_cast<size_t>(h * w);
  for (size_t i = 0; i < v.size(); ++i) {
    double x = v[i];
    uint8_t byte;
    if (floating) {
      DUET_CHECK(!std::isnan(x), where, ": pixel ", i, " (flat index) is NaN");
      // torch.utils.tensorboard: float32(x) * 255, clipped to [0, 255], truncated to uint8.
      float f = static_cast<float>(x) * 255.0f;
      f = f < 0.0f ? 0.0f : (f > 255.0f ? 255.0f : f);
      byte = static_cast<uint8_t>(f);
    } else {
      DUET_CHECK(x >= 0 && x <= 255, where, ": int64 pixel ", i, " (flat index) is ",
                 static_cast<int64_t>(x), ", expected 0 to 255");
      byte = static_cast<uint8_t>(x);
    }
    size_t ch = i / plane, pix = i % plane;
    hwc[pix * static_cast<size_t>(c) + ch] = byte;
  }
  std::string png = detail::encode_png(hwc.data(), h, w, c, where);
  std::lock_guard lock(impl_->mu);
  impl_->append("add_image", tag,
                detail::image_event(tag, png, h, w, c, step, wall_time.value_or(now_seconds())));
}

void SummaryWriter::add_text(const std::string& tag, const std::string& text, int64_t step,
                             std::optional<double> wall_time) {
  DUET_CHECK(!tag.empty(), "SummaryWriter::add_text: empty tag");
  std::lock_guard lock(impl_->mu);
  impl_->append(
      "add_text", tag,
      detail::text_event(tag + "/text_summary", text, step, wall_time.value_or(now_seconds())));
}

void SummaryWriter::add_graph(const Graph& graph) {
  std::string def = detail::encode_graph_def(*graph.data());
  std::lock_guard lock(impl_->mu);
  impl_->append("add_graph", "graph", detail::graph_event(def, now_seconds()));
}

void SummaryWriter::add_graph(nn::Module& model, const Shape& input_shape) {
  std::map<const void*, std::string> names;
  for (const auto& [name, t] : model.state_dict())
    if (t.defined()) names.emplace(t.data_ptr(), name);
  std::string def;
  {
    Graph g;
    Tensor x = g.input("input", input_shape);
    Tensor y = model(x);
    g.end_build();
    def = detail::encode_graph_def(*g.data(), names);
  }
  std::lock_guard lock(impl_->mu);
  impl_->append("add_graph", model.type_name(), detail::graph_event(def, now_seconds()));
}

void SummaryWriter::flush() {
  std::lock_guard lock(impl_->mu);
  if (impl_->fd >= 0 && !impl_->pending.empty()) impl_->write_pending();
}

void SummaryWriter::close() {
  std::lock_guard lock(impl_->mu);
  if (impl_->fd < 0) return;
  if (!impl_->pending.empty()) impl_->write_pending();
  int rc = ::close(impl_->fd);
  impl_->fd = -1;
  DUET_CHECK(rc == 0, "SummaryWriter: cannot close the event file '", impl_->path,
             "': ", std::strerror(errno));
}

bool SummaryWriter::closed() const {
  return impl_->fd < 0;
}
const std::string& SummaryWriter::log_dir() const {
  return impl_->log_dir;
}
const std::string& SummaryWriter::file_path() const {
  return impl_->path;
}

}  // namespace duet::tensorboard

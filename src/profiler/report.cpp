// Profile: start, stop, the results, the summary table and the Chrome trace export.
#ifdef __linux__
#include <unistd.h>
#endif

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "duet/error.h"
#include "duet/memory.h"
#include "io/reader.h"
#include "profiler/hooks.h"
#include "profiler/session.h"

namespace duet::profiler {

struct Profile::State {
  std::shared_ptr<detail::Session> session;  // while recording
  detail::Results results;
  bool recording = false;
};

Profile::Profile(ProfileOptions options) : state_(std::make_unique<State>()) {
  state_->session = detail::start_session(options);
  state_->recording = true;
}

Profile::~Profile() {
  try {
    stop();
  } catch (...) {  // a destructor does not throw; stop() only throws on out of memory
  }
}

void Profile::stop() {
  if (!state_->recording) return;
  state_->recording = false;
  state_->results = detail::stop_session(state_->session);
  state_->session.reset();
}

bool Profile::recording() const {
  return state_->recording;
}

const std::vector<Event>& Profile::events() const {
  DUET_CHECK(!state_->recording,
             "profiler::Profile::events: the profile is still recording; call stop() first");
  return state_->results.events;
}
int64_t Profile::dropped() const {
  DUET_CHECK(!state_->recording,
             "profiler::Profile::dropped: the profile is still recording; call stop() first");
  return state_->results.dropped;
}
int64_t Profile::wall_ns() const {
  DUET_CHECK(!state_->recording,
             "profiler::Profile::wall_ns: the profile is still recording; call stop() first");
  return state_->results.wall_ns;
}

namespace {

std::string fmt_time(int64_t ns) {
  char buf[32];
  const double v = static_cast<double>(ns);
  if (ns >= 1'000'000'000)
    std::snprintf(buf, sizeof buf, "%.3fs", v / 1e9);
  else if (ns >= 1'000'000)
    std::snprintf(buf, sizeof buf, "%.3fms", v / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.3fus", v / 1e3);
  return buf;
}

std::string fmt_pct(double part, double whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", whole > 0 ? 100.0 * part / whole : 0.0);
  return buf;
}

struct Row {
  std::string name;
  EventKind kind = EventKind::op;
  int64_t calls = 0, self_ns = 0, total_ns = 0, self_alloc = 0, device_ns = 0;
  bool has_device = false;
};

const char* kSortKeys = "self_cpu, total_cpu, avg_cpu, calls, self_alloc, device, name";

// Chrome trace JSON string (names come from users: quotes, backslashes, control chars).
void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void json_us(std::string& out, int64_t ns) {  // microseconds, nanosecond precision
  char buf[40];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ns / 1000),
                static_cast<long long>(ns % 1000));
  out += buf;
}

constexpr uint64_t kCudaStreamTid = 0x7fff0000;  // + device index: the "cuda:N stream" row

}  // namespace

std::string Profile::table(const TableOptions& options) const {
  const std::vector<Event>& evs = events();
  const std::string& key = options.sort_by;
  const bool known = key == "self_cpu" || key == "total_cpu" || key == "avg_cpu" ||
                     key == "calls" || key == "self_alloc" || key == "device" || key == "name";
  DUET_CHECK(known, "profiler::Profile::table: unknown sort_by '", key, "'; expected one of ",
             kSortKeys);
  std::map<std::pair<int, std::string>, Row> by;
  int64_t self_total = 0;
  bool any_device = false;
  for (const Event& e : evs) {
    if (!options.kinds.empty() &&
        std::find(options.kinds.begin(), options.kinds.end(), e.kind) == options.kinds.end())
      continue;
    Row& r = by[{static_cast<int>(e.kind), e.name}];
    r.name = e.name;
    r.kind = e.kind;
    r.calls++;
    r.self_ns += e.self_ns;
    r.total_ns += e.duration_ns;
    r.self_alloc += e.self_bytes_allocated;
    if (e.device_duration_ns >= 0) {
      r.device_ns += e.device_duration_ns;
      r.has_device = any_device = true;
    }
    self_total += e.self_ns;
  }
  std::vector<Row> rows;
  rows.reserve(by.size());
  for (auto& [k, r] : by) rows.push_back(std::move(r));
  auto value = [&](const Row& r) -> double {
    if (key == "self_cpu") return static_cast<double>(r.self_ns);
    if (key == "total_cpu") return static_cast<double>(r.total_ns);
    if (key == "avg_cpu") return static_cast<double>(r.total_ns) / static_cast<double>(r.calls);
    if (key == "calls") return static_cast<double>(r.calls);
    if (key == "self_alloc") return static_cast<double>(r.self_alloc);
    return static_cast<double>(r.device_ns);
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    if (key != "name" && value(a) != value(b)) return value(a) > value(b);
    return a.name < b.name;  // ties by name
  });
  const size_t shown =
      options.row_limit == 0 ? rows.size() : std::min(rows.size(), options.row_limit);

  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> head = {"Name",       "Kind",      "Self CPU %",   "Self CPU",
                                   "CPU total %", "CPU total", "CPU time avg", "Self Alloc",
                                   "# of Calls"};
  if (any_device) head.push_back("Device total");
  cells.push_back(head);
  for (size_t i = 0; i < shown; ++i) {
    const Row& r = rows[i];
    std::vector<std::string> c = {r.name,
                                  kind_name(r.kind),
                                  fmt_pct(static_cast<double>(r.self_ns),
                                          static_cast<double>(self_total)),
                                  fmt_time(r.self_ns),
                                  fmt_pct(static_cast<double>(r.total_ns),
                                          static_cast<double>(self_total)),
                                  fmt_time(r.total_ns),
                                  fmt_time(r.total_ns / r.calls),
                                  format_bytes(r.self_alloc),
                                  std::to_string(r.calls)};
    if (any_device) c.push_back(r.has_device ? fmt_time(r.device_ns) : "-");
    cells.push_back(std::move(c));
  }
  std::vector<size_t> width(head.size(), 0);
  for (const auto& c : cells)
    for (size_t k = 0; k < c.size(); ++k) width[k] = std::max(width[k], c[k].size());
  std::ostringstream os;
  auto rule = [&] {
    for (size_t k = 0; k < width.size(); ++k) os << (k ? "  " : "") << std::string(width[k], '-');
    os << "\n";
  };
  rule();
  for (size_t r = 0; r < cells.size(); ++r) {
    for (size_t k = 0; k < cells[r].size(); ++k) {
      const std::string& s = cells[r][k];
      const std::string pad(width[k] - s.size(), ' ');
      os << (k ? "  " : "") << (k < 2 ? s + pad : pad + s);  // names left, numbers right
    }
    os << "\n";
    if (r == 0) rule();
  }
  rule();
  os << "Self CPU time total: " << fmt_time(self_total);
  if (shown < rows.size()) os << " (" << rows.size() - shown << " more rows not shown)";
  os << "\n";
  if (state_->results.dropped > 0)
    os << "Dropped events: " << state_->results.dropped
       << " (ProfileOptions::max_events reached)\n";
  return os.str();
}

std::string Profile::chrome_trace() const {
  const std::vector<Event>& evs = events();
#ifdef __linux__
  const long long pid = static_cast<long long>(::getpid());
#else
  const long long pid = 1;
#endif
  std::string out;
  out.reserve(evs.size() * 220 + 512);
  out += "{\"traceEvents\":[\n";
  bool first = true;
  auto sep = [&] {
    if (!first) out += ",\n";
    first = false;
  };
  // Row names: process, threads (in order of their first event), CUDA streams.
  sep();
  out += "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(pid) +
         ",\"tid\":0,\"args\":{\"name\":\"duet\"}}";
  std::vector<uint64_t> threads;
  std::set<int> cuda_devices;
  for (const Event& e : evs) {
    if (std::find(threads.begin(), threads.end(), e.thread) == threads.end())
      threads.push_back(e.thread);
    if (e.device_start_ns >= 0) cuda_devices.insert(e.device.index);
  }
  for (size_t i = 0; i < threads.size(); ++i) {
    sep();
    out += "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + std::to_string(pid) +
           ",\"tid\":" + std::to_string(threads[i]) + ",\"args\":{\"name\":\"" +
           (i == 0 ? std::string("thread ") + std::to_string(threads[i]) + " (first)"
                   : std::string("thread ") + std::to_string(threads[i])) +
           "\"}}";
  }
  for (int d : cuda_devices) {
    sep();
    out += "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + std::to_string(pid) +
           ",\"tid\":" + std::to_string(kCudaStreamTid + static_cast<uint64_t>(d)) +
           ",\"args\":{\"name\":\"cuda:" + std::to_string(d) + " stream\"}}";
  }
  auto x_event = [&](const Event& e, bool device_row) {
    sep();
    out += "{\"ph\":\"X\",\"cat\":\"";
    out += kind_name(e.kind);
    out += device_row ? "_device\",\"name\":" : "\",\"name\":";
    json_string(out, e.name);
    out += ",\"pid\":" + std::to_string(pid) + ",\"tid\":";
    out += std::to_string(device_row ? kCudaStreamTid + static_cast<uint64_t>(e.device.index)
                                     : e.thread);
    out += ",\"ts\":";
    json_us(out, device_row ? e.device_start_ns : e.start_ns);
    out += ",\"dur\":";
    json_us(out, device_row ? e.device_duration_ns : e.duration_ns);
    out += ",\"args\":{\"id\":" + std::to_string(e.id);
    if (e.parent >= 0) out += ",\"parent\":" + std::to_string(e.parent);
    if (!e.input_shapes.empty()) {
      out += ",\"input_shapes\":[";
      for (size_t i = 0; i < e.input_shapes.size(); ++i) {
        out += i ? ",[" : "[";
        for (size_t k = 0; k < e.input_shapes[i].size(); ++k)
          out += (k ? "," : "") + std::to_string(e.input_shapes[i][k]);
        out += "]";
      }
      out += "],\"input_dtypes\":[";
      for (size_t i = 0; i < e.input_dtypes.size(); ++i) {
        out += i ? ",\"" : "\"";
        out += dtype_name(e.input_dtypes[i]);
        out += "\"";
      }
      out += "]";
    }
    out += ",\"device\":";
    json_string(out, e.device.str());
    if (!device_row) {
      out += ",\"self_us\":";
      json_us(out, e.self_ns);
      out += ",\"bytes_allocated\":" + std::to_string(e.bytes_allocated) +
             ",\"bytes_freed\":" + std::to_string(e.bytes_freed);
    }
    if (e.graph >= 0) out += ",\"graph\":" + std::to_string(e.graph);
    if (e.node >= 0) out += ",\"node\":" + std::to_string(e.node);
    out += "}}";
  };
  for (const Event& e : evs) {
    x_event(e, false);
    if (e.device_start_ns >= 0 && e.device_duration_ns >= 0) x_event(e, true);
  }
  out += "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"duet profiler\","
         "\"dropped_events\":" +
         std::to_string(state_->results.dropped) + ",\"wall_us\":";
  json_us(out, state_->results.wall_ns);
  out += "}}\n";
  return out;
}

void Profile::export_chrome_trace(const std::string& path) const {
  const std::string text = chrome_trace();
  io::SafeWriter w(path, "profiler::Profile::export_chrome_trace: '" + path + "': ");
  w.write(text.data(), text.size());
  w.commit();
}

}  // namespace duet::profiler

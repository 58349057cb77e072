// duet::profiler: what ran, when, for how long, on which thread, and what it allocated; the
// Python-free equivalent of torch.profiler.
//
//   duet::profiler::Profile p;                        // records from here on (every thread)
//   {
//     duet::profiler::Range r("data loading");        // a named region of your own
//     batch = next_batch();
//   }
//   auto loss = duet::cross_entropy((*net)(x), y);    // one event per op call
//   loss.backward();                                  // "<op>_grad" events, their ops inside
//   step.run({{"x", x}, {"y", y}});                   // graph mode: one "graph #N" event per
//                                                     // run, one event per node inside it
//   p.stop();
//   p.export_chrome_trace("trace.json");              // chrome://tracing, ui.perfetto.dev
//   std::cout << p.table({.sort_by = "self_cpu", .row_limit = 10});
//   //  Name   Self CPU %  Self CPU  CPU total %  CPU total  CPU avg  Self Alloc  # Calls
//   //  conv2d     41.20%   12.3 ms      45.80%    13.7 ms   1.37 ms     2.00 MB       10
//   //  ...
//
// What is recorded: every eager op call through the op table and the tensor factories
// empty/zeros/full (name, input shapes and dtypes, start, duration, thread, bytes allocated
// and freed on this thread while it ran), the gradient rule of every tape node in backward()
// ("mul_grad", its ops nested inside), every run of a compiled graph with each node as a
// child event (on a GPU: the run only, once it replays as a CUDA Graph), and Ranges. Events on
// one thread nest: an event's self time is its duration minus its children's. Ops called
// while a graph is being built record nodes, not events.
//
// On a CUDA device each op and graph run is also timed on the device with a pair of CUDA
// events on the device's stream (resolved in stop(), so no host waits while recording;
// Event::device_start_ns / device_duration_ns, a "cuda:N stream" row in the trace).
//
// Cost: when no Profile records, each op call pays one relaxed atomic load (and each
// allocation and free one more): against a build without the hooks,
// bench/bench_profiler_overhead.cpp measured 0-5 ns (0-1.6%) more CPU per call of the
// smallest op (add of 16 floats, ~340 ns), at the noise level of a shared machine, and no
// difference on a training step. While recording, an event costs about 0.3 microseconds of
// CPU (input shapes included). At most ProfileOptions::max_events events are kept;
// later ones are dropped and counted (dropped(), the table's last line, the trace's
// "otherData"). One Profile records at a time: a second one is a duet::Error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "duet/dtype.h"
#include "duet/shape.h"

namespace duet::profiler {

enum class EventKind {
  op,          // an eager op call (the op's name)
  backward,    // a tape node's gradient rule in backward() ("mul_grad")
  graph_run,   // one run of a compiled graph ("graph #3")
  graph_node,  // one node of that run (the node's op name)
  range,       // a profiler::Range
};
const char* kind_name(EventKind kind);  // "op", "backward", "graph_run", "graph_node", "range"

struct Event {
  std::string name{};
  EventKind kind = EventKind::op;
  int64_t id = 0;       // unique in the Profile, in the order events started on their thread
  int64_t parent = -1;  // the enclosing event on the same thread, -1 at top level
  int32_t depth = 0;    // 0 at top level
  uint64_t thread = 0;  // profiler::thread_id() of the thread that recorded it
  int64_t start_ns = 0;  // since the Profile started
  int64_t duration_ns = 0;
  int64_t self_ns = 0;  // duration_ns minus the children's duration_ns
  // op and graph_node events: the inputs (empty with ProfileOptions::record_shapes off).
  std::vector<Shape> input_shapes{};
  std::vector<DType> input_dtypes{};
  Device device = cpu;  // where the op or graph ran (cpu for ranges)
  // Bytes the allocators handed out and took back on this thread while the event ran
  // (requested sizes, every device), children included; self_*: minus the children's.
  int64_t bytes_allocated = 0, bytes_freed = 0;
  int64_t self_bytes_allocated = 0, self_bytes_freed = 0;
  int64_t graph = -1;  // graph_run and graph_node: the graph's id
  int32_t node = -1;   // graph_node: the node's index in the compiled graph
  // CUDA devices: the time of the event's device work, from CUDA events; -1 elsewhere.
  int64_t device_start_ns = -1, device_duration_ns = -1;
};

struct ProfileOptions {
  size_t max_events = 2'000'000;  // events past this are dropped and counted
  bool record_shapes = true;      // input shapes and dtypes of op and node events
  bool cuda_events = true;        // time CUDA ops and graph runs with CUDA events
};

struct TableOptions {
  // "self_cpu", "total_cpu", "avg_cpu", "calls", "self_alloc", "device" (CUDA event time)
  // or "name"; largest first, ties by name (name: alphabetical).
  std::string sort_by = "self_cpu";
  size_t row_limit = 20;  // 0: every row
  // Which kinds get rows; by default all. A row is (kind, name): "add" the op and "add" a
  // graph node are two rows.
  std::vector<EventKind> kinds = {};
};

// Records while it lives (or until stop()). Not copyable; the results stay readable after
// stop() for as long as the Profile object lives.
class Profile {
 public:
  explicit Profile(ProfileOptions options = {});
  ~Profile();  // stop()s
  Profile(const Profile&) = delete;
  Profile& operator=(const Profile&) = delete;

  // Ends recording (events still open on other threads are dropped); idempotent. CUDA events
  // are resolved here (the one host wait).
  void stop();
  bool recording() const;

  // After stop() (duet::Error before): every event, sorted by start time (a parent before
  // its children).
  const std::vector<Event>& events() const;
  int64_t dropped() const;   // events not kept (max_events)
  int64_t wall_ns() const;   // from the start to stop()

  // torch.profiler's key_averages().table(): one row per (kind, name), sorted by
  // options.sort_by, with self and total time, their share of the sum of top-level self
  // times, average, calls and self bytes allocated.
  std::string table(const TableOptions& options = {}) const;
  // Chrome trace JSON (the Trace Event Format: "traceEvents" of "X" complete events with
  // ph, ts, dur, pid, tid, name, cat, args). chrome_trace() returns the text;
  // export_chrome_trace writes it through a temporary file (never a half-written file).
  std::string chrome_trace() const;
  void export_chrome_trace(const std::string& path) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A named region: an event from construction to destruction on this thread (nothing when no
// Profile records). Ranges nest with each other and with the ops inside them.
class Range {
 public:
  explicit Range(std::string_view name);
  ~Range();
  Range(const Range&) = delete;
  Range& operator=(const Range&) = delete;

 private:
  void* frame_ = nullptr;
};

// True while a Profile records.
bool is_profiling();
// The id Event::thread carries for the calling thread (its OS thread id on Linux).
uint64_t thread_id();

}  // namespace duet::profiler

// The profiler's recording side: the session a Profile starts, per-thread event buffers and
// open-event stacks, the allocator counters, Range, and stop() (which gathers the buffers and
// resolves CUDA events). Reports (table, Chrome trace) are in report.cpp.
//
// Threads: each thread appends finished events to its own buffer (its own mutex, uncontended
// except while stop() gathers), registered with the session on the thread's first event.
// Nesting is per thread: a stack of open frames, reused between events (no allocation per
// event once the stack and the name strings have grown).
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "core/device_backend.h"
#include "duet/cuda.h"
#include "duet/error.h"
#include "profiler/hooks.h"
#include "profiler/session.h"

namespace duet::profiler {
namespace detail {

__attribute__((visibility("hidden"))) std::atomic<bool> g_recording{false};

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::mutex g_mu;                    // guards g_session and session starts/stops
std::shared_ptr<Session> g_session;  // the recording session, null when none
std::atomic<uint64_t> g_gen{0};      // the recording session's generation (0: none yet)
uint64_t g_last_gen = 0;             // under g_mu

uint64_t os_thread_id() {
#ifdef __linux__
  return static_cast<uint64_t>(::syscall(SYS_gettid));
#else
  return static_cast<uint64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
#endif
}

struct ThreadState {
  uint64_t tid = os_thread_id();
  int64_t allocated = 0, freed = 0;  // running totals on this thread (only while recording)
  std::vector<std::unique_ptr<Frame>> frames;  // [0, depth) are open
  size_t depth = 0;
  uint64_t gen = 0;  // the session `buffer` belongs to
  std::shared_ptr<Session> session;
  std::shared_ptr<ThreadBuffer> buffer;
};

ThreadState& tls() {
  thread_local ThreadState t;
  return t;
}

// Makes sure this thread has a buffer in the recording session; false when none records.
bool attach(ThreadState& t) {
  if (t.buffer && t.gen == g_gen.load(std::memory_order_acquire)) return true;
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_session) return false;
  t.session = g_session;
  t.gen = g_session->gen;
  t.buffer = std::make_shared<ThreadBuffer>();
  t.buffer->thread = t.tid;
  std::lock_guard<std::mutex> slock(g_session->mu);
  g_session->buffers.push_back(t.buffer);
  return true;
}

// The session's reference event on CUDA device `index`, recorded once per session right
// after a device synchronize, so its device time is its host time (the one host wait, on
// the first CUDA event of a device).
void ensure_cuda_reference(Session& s, int index) {
  std::lock_guard<std::mutex> lock(s.cuda_mu);
  if (s.cuda_refs.count(index)) return;
  synchronize(Device{DeviceType::cuda, index});
  CudaRef ref;
  ref.event = duet::detail::cuda_event_record(index);
  ref.host_ns = now_ns();
  s.cuda_refs[index] = ref;
}

void release_cuda(void*& ev) noexcept {
  if (ev) duet::detail::cuda_event_release(ev);
  ev = nullptr;
}

// An open event's fields (begin_event): may throw (out of memory, a CUDA error).
void fill_frame(ThreadState& t, Session& s, Frame* f, Frame* up, EventKind kind,
                const char* name, const char* suffix, const std::vector<Tensor>* inputs,
                Device device) {
  f->gen = t.gen;
  f->up = up;
  f->kind = kind;
  f->name.assign(name);
  if (suffix) f->name.append(suffix);
  f->id = s.next_id.fetch_add(1, std::memory_order_relaxed);
  f->depth = up ? up->depth + 1 : 0;
  f->child_ns = f->child_alloc = f->child_freed = 0;
  f->shapes.clear();
  f->dtypes.clear();
  if (inputs && s.options.record_shapes) {
    for (const Tensor& x : *inputs) {
      f->shapes.push_back(x.defined() ? x.shape() : Shape{});
      f->dtypes.push_back(x.defined() ? x.dtype() : float32);
    }
  }
  f->device = device;
  f->graph = -1;
  f->node = -1;
  f->cuda_start = f->cuda_end = nullptr;
  if (device.type == DeviceType::cuda && s.options.cuda_events) {
    ensure_cuda_reference(s, device.index);
    f->cuda_start = duet::detail::cuda_event_record(device.index);
  }
}

}  // namespace

Frame* begin_event(EventKind kind, const char* name, const char* suffix,
                   const std::vector<Tensor>* inputs, Device device) {
  ThreadState& t = tls();
  if (!attach(t)) return nullptr;
  Session& s = *t.session;
  if (t.depth == t.frames.size()) t.frames.push_back(std::make_unique<Frame>());
  Frame* f = t.frames[t.depth].get();
  Frame* up = t.depth ? t.frames[t.depth - 1].get() : nullptr;
  if (up && up->gen != t.gen) up = nullptr;  // left open by an earlier session
  ++t.depth;
  f->cuda_start = f->cuda_end = nullptr;
  try {
    fill_frame(t, s, f, up, kind, name, suffix, inputs, device);
  } catch (...) {  // out of memory, or a CUDA error recording the event: no event, counted
    --t.depth;
    release_cuda(f->cuda_start);
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  f->alloc0 = t.allocated;
  f->freed0 = t.freed;
  f->start_ns = now_ns();
  return f;
}

void set_event_graph(Frame* f, int64_t graph, int32_t node) noexcept {
  f->graph = graph;
  f->node = node;
}

void end_event(Frame* f) noexcept {
  const int64_t end = now_ns();
  ThreadState& t = tls();
  // Scopes are C++ scopes, so frames end in reverse order of their start.
  if (t.depth && t.frames[t.depth - 1].get() == f) --t.depth;
  const int64_t dur = end - f->start_ns;
  const int64_t alloc = t.allocated - f->alloc0, freed = t.freed - f->freed0;
  if (f->up) {
    f->up->child_ns += dur;
    f->up->child_alloc += alloc;
    f->up->child_freed += freed;
  }
  if (f->cuda_start) {
    try {
      f->cuda_end = duet::detail::cuda_event_record(f->device.index);
    } catch (...) {
      release_cuda(f->cuda_start);
    }
  }
  if (f->gen != t.gen || !t.session) {
    release_cuda(f->cuda_start);
    release_cuda(f->cuda_end);
    return;
  }
  Session& s = *t.session;
  ThreadBuffer& b = *t.buffer;
  std::lock_guard<std::mutex> lock(b.mu);
  if (b.closed || s.kept.fetch_add(1, std::memory_order_relaxed) >=
                      static_cast<int64_t>(s.options.max_events)) {
    if (!b.closed) s.dropped.fetch_add(1, std::memory_order_relaxed);
    release_cuda(f->cuda_start);
    release_cuda(f->cuda_end);
    return;
  }
  try {
    Event& e = b.events.emplace_back();
    e.name = f->name;
    e.kind = f->kind;
    e.id = f->id;
    e.parent = f->up ? f->up->id : -1;
    e.depth = f->depth;
    e.thread = t.tid;
    e.start_ns = f->start_ns;  // absolute until stop()
    e.duration_ns = dur;
    e.self_ns = dur - f->child_ns;
    e.input_shapes = std::move(f->shapes);  // the frame refills them at its next start
    e.input_dtypes = std::move(f->dtypes);
    e.device = f->device;
    e.bytes_allocated = alloc;
    e.bytes_freed = freed;
    e.self_bytes_allocated = alloc - f->child_alloc;
    e.self_bytes_freed = freed - f->child_freed;
    e.graph = f->graph;
    e.node = f->node;
    if (f->cuda_start && f->cuda_end)
      b.cuda.push_back({b.events.size() - 1, f->device.index, f->cuda_start, f->cuda_end});
    else
      release_cuda(f->cuda_start);
    f->cuda_start = f->cuda_end = nullptr;
  } catch (...) {  // out of memory while recording: the event is dropped, counted
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    release_cuda(f->cuda_start);
    release_cuda(f->cuda_end);
  }
}

void note_alloc_slow(size_t bytes) noexcept {
  tls().allocated += static_cast<int64_t>(bytes);
}
void note_free_slow(size_t bytes) noexcept {
  tls().freed += static_cast<int64_t>(bytes);
}

std::shared_ptr<Session> start_session(const ProfileOptions& options) {
  std::lock_guard<std::mutex> lock(g_mu);
  DUET_CHECK(!g_session,
             "profiler::Profile: another Profile is already recording; stop() it first (one "
             "Profile records at a time)");
  DUET_CHECK(options.max_events > 0, "profiler::Profile: max_events is 0; expected >= 1");
  auto s = std::make_shared<Session>();
  s->options = options;
  s->gen = ++g_last_gen;
  s->t0_ns = now_ns();
  g_session = s;
  g_gen.store(s->gen, std::memory_order_release);
  g_recording.store(true, std::memory_order_release);
  return s;
}

Results stop_session(const std::shared_ptr<Session>& s) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_session == s) {
      g_recording.store(false, std::memory_order_release);
      g_session.reset();
    }
  }
  Results r;
  r.wall_ns = now_ns() - s->t0_ns;
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    buffers = s->buffers;
  }
  std::vector<PendingCuda> cuda;
  size_t total = 0;
  for (auto& b : buffers) {
    std::lock_guard<std::mutex> lock(b->mu);
    total += b->events.size();
  }
  r.events.reserve(total);
  for (auto& b : buffers) {
    std::lock_guard<std::mutex> lock(b->mu);
    b->closed = true;
    const size_t base = r.events.size();
    for (Event& e : b->events) r.events.push_back(std::move(e));
    for (PendingCuda p : b->cuda) {
      p.event += base;
      cuda.push_back(p);
    }
    b->events.clear();
    b->cuda.clear();
  }
  // CUDA events: device times on the host clock through each device's reference event. The
  // elapsed-time queries wait for the events (the only host wait).
  for (PendingCuda& p : cuda) {
    try {
      auto it = s->cuda_refs.find(p.device);
      if (it != s->cuda_refs.end()) {
        Event& e = r.events[p.event];
        const double since_ref = duet::detail::cuda_event_elapsed_ms(it->second.event, p.start);
        const double dur = duet::detail::cuda_event_elapsed_ms(p.start, p.end);
        e.device_start_ns = it->second.host_ns + static_cast<int64_t>(since_ref * 1e6);
        e.device_duration_ns = static_cast<int64_t>(dur * 1e6);
      }
    } catch (const Error&) {  // a failed query leaves the event without device time
    }
    release_cuda(p.start);
    release_cuda(p.end);
  }
  for (auto& [index, ref] : s->cuda_refs) release_cuda(ref.event);
  s->cuda_refs.clear();
  for (Event& e : r.events) {
    e.start_ns -= s->t0_ns;
    if (e.device_start_ns >= 0) e.device_start_ns -= s->t0_ns;
  }
  std::stable_sort(r.events.begin(), r.events.end(), [](const Event& a, const Event& b) {
    if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
    if (a.thread != b.thread) return a.thread < b.thread;
    return a.depth < b.depth;
  });
  r.dropped = s->dropped.load();
  return r;
}

}  // namespace detail

const char* kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::op: return "op";
    case EventKind::backward: return "backward";
    case EventKind::graph_run: return "graph_run";
    case EventKind::graph_node: return "graph_node";
    case EventKind::range: return "range";
  }
  return "unknown";
}

bool is_profiling() {
  return detail::g_recording.load(std::memory_order_relaxed);
}

uint64_t thread_id() {
  return detail::tls().tid;
}

Range::Range(std::string_view name) {
  if (!detail::g_recording.load(std::memory_order_relaxed)) return;
  const std::string n(name);
  frame_ = detail::begin_event(EventKind::range, n.c_str(), nullptr, nullptr, cpu);
}
Range::~Range() {
  if (frame_) detail::end_event(static_cast<detail::Frame*>(frame_));
}

}  // namespace duet::profiler

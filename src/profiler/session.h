// The profiler's internal state: open frames, per-thread buffers, the session a Profile
// starts and what stop() hands back (src/profiler/recorder.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "duet/profiler.h"

namespace duet::profiler::detail {

// An open event on one thread (the stack in recorder.cpp's ThreadState).
struct Frame {
  std::string name;
  EventKind kind = EventKind::op;
  uint64_t gen = 0;     // the session it belongs to
  Frame* up = nullptr;  // the enclosing open event of the same session, or null
  int64_t id = 0;
  int32_t depth = 0;
  int64_t start_ns = 0, child_ns = 0;
  int64_t alloc0 = 0, freed0 = 0, child_alloc = 0, child_freed = 0;
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  Device device = cpu;
  int64_t graph = -1;
  int32_t node = -1;
  void* cuda_start = nullptr;  // CUDA events (device_backend.h), CUDA devices only
  void* cuda_end = nullptr;
};

// A recorded event's CUDA event pair, resolved in stop().
struct PendingCuda {
  size_t event = 0;  // index in the buffer's (later: the results') events
  int device = 0;
  void* start = nullptr;
  void* end = nullptr;
};

struct ThreadBuffer {
  std::mutex mu;
  uint64_t thread = 0;
  bool closed = false;  // stop() gathered it: later events are dropped
  std::deque<Event> events;  // grows without moving what it holds
  std::vector<PendingCuda> cuda;
};

struct CudaRef {
  void* event = nullptr;
  int64_t host_ns = 0;  // steady clock when it was recorded on an idle stream
};

struct Session {
  ProfileOptions options;
  uint64_t gen = 0;
  int64_t t0_ns = 0;
  std::atomic<int64_t> next_id{0}, kept{0}, dropped{0};
  std::mutex mu;  // buffers
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
  std::mutex cuda_mu;  // cuda_refs
  std::map<int, CudaRef> cuda_refs;
};

struct Results {
  std::vector<Event> events;  // start_ns relative to the session's start, sorted
  int64_t dropped = 0;
  int64_t wall_ns = 0;
};

// Throws duet::Error when a session records already.
std::shared_ptr<Session> start_session(const ProfileOptions& options);
Results stop_session(const std::shared_ptr<Session>& session);

}  // namespace duet::profiler::detail

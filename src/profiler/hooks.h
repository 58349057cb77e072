// What the op path, the tape, the executor and the allocators call into the profiler
// (duet/profiler.h). When no Profile records, each hook is one relaxed atomic load and a
// branch; everything else is out of line in src/profiler/recorder.cpp.
//
//   std::vector<Tensor> call_op(const OpDef& op, std::vector<Tensor> inputs, ...) {
//     profiler::detail::Scope scope;
//     if (profiler::detail::recording()) scope.start(EventKind::op, name, &inputs, device);
//     ...                                   // the event ends when `scope` goes away
//   }
//   void* CachingAllocator::allocate(size_t n) { profiler::detail::note_alloc(n); ... }
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "duet/profiler.h"
#include "duet/tensor.h"

namespace duet::profiler::detail {

// True while a Profile records (the only thing the hooks read when none does). Building
// with -DDUET_PROFILER_HOOKS=0 compiles the hooks out (Profile then records only Ranges):
// the baseline of bench/bench_profiler_overhead.cpp.
#ifndef DUET_PROFILER_HOOKS
#define DUET_PROFILER_HOOKS 1
#endif
// Hidden: only libduet's own files read it, so the load is PC-relative (no GOT entry).
extern std::atomic<bool> g_recording __attribute__((visibility("hidden")));
inline bool recording() {
#if DUET_PROFILER_HOOKS
  return g_recording.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

struct Frame;  // an open event on this thread (recorder.cpp)

Frame* begin_event(EventKind kind, const char* name, const char* suffix,
                   const std::vector<Tensor>* inputs, Device device);
void end_event(Frame* frame) noexcept;
void set_event_graph(Frame* frame, int64_t graph, int32_t node) noexcept;
void note_alloc_slow(size_t bytes) noexcept;
void note_free_slow(size_t bytes) noexcept;

// An event from construction to destruction (when a Profile records at construction).
class Scope {
 public:
  Scope() = default;  // nothing yet: start() it when recording() (arguments built only then)
  Scope(EventKind kind, const char* name, const std::vector<Tensor>* inputs, Device device,
        const char* suffix = nullptr) {
    if (recording()) frame_ = begin_event(kind, name, suffix, inputs, device);
  }
  void start(EventKind kind, const char* name, const std::vector<Tensor>* inputs, Device device,
             const char* suffix = nullptr) {
    if (!frame_) frame_ = begin_event(kind, name, suffix, inputs, device);
  }
  ~Scope() {
    if (frame_) end_event(frame_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  bool active() const { return frame_ != nullptr; }
  void set_graph(int64_t graph, int32_t node = -1) {
    if (frame_) set_event_graph(frame_, graph, node);
  }

 private:
  Frame* frame_ = nullptr;
};

// Allocator hooks: bytes handed out / taken back on the calling thread.
inline void note_alloc(size_t bytes) {
  if (recording()) note_alloc_slow(bytes);
}
inline void note_free(size_t bytes) {
  if (recording()) note_free_slow(bytes);
}

}  // namespace duet::profiler::detail

// Whether a graph is being built or traced on this thread: the one piece of graph-mode state
// the core needs (a host read of a tensor value while tracing warns, src/core/tensor.cpp), so
// the core does not include the ops layer. The graph recorder (src/graph/ir.cpp) sets it;
// call_op (src/ops/dispatch.cpp) hands every op call to the recorder while it is set.
//
//   set_recording_active(true);   // a Graph starts recording on this thread
//   if (recording_active()) ...   // true until set_recording_active(false)
#pragma once

#include "duet/source_location.h"

namespace duet {

class Tensor;

bool recording_active();
void set_recording_active(bool active);

// A concrete tensor's value was read on the host at `where` while recording: the graph layer
// (src/graph/ir.cpp) remembers the tensor and its storage version, so that a later write
// makes the graph stale (Executable::stale_reason, jit retraces).
using HostReadHook = void (*)(const Tensor& t, const SourceLoc& where);
void set_host_read_hook(HostReadHook hook);
void note_host_read(const Tensor& t, const SourceLoc& where);

}  // namespace duet

// Whether a graph is being built or traced on this thread: the one piece of graph-mode state
// the core needs (a host read of a tensor value while tracing warns, src/core/tensor.cpp), so
// the core does not include the ops layer. The graph recorder (src/graph/ir.cpp) sets it;
// call_op (src/ops/dispatch.cpp) hands every op call to the recorder while it is set.
//
//   set_recording_active(true);   // a Graph starts recording on this thread
//   if (recording_active()) ...   // true until set_recording_active(false)
#pragma once

namespace duet {

bool recording_active();
void set_recording_active(bool active);

}  // namespace duet

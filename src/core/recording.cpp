#include "core/recording.h"

namespace duet {
namespace {
thread_local bool g_recording = false;
HostReadHook g_host_read_hook = nullptr;
}  // namespace

void set_host_read_hook(HostReadHook hook) {
  g_host_read_hook = hook;
}
void note_host_read(const Tensor& t, const SourceLoc& where) {
  if (g_host_read_hook) g_host_read_hook(t, where);
}

bool recording_active() {
  return g_recording;
}
void set_recording_active(bool active) {
  g_recording = active;
}

}  // namespace duet

#include "core/recording.h"

namespace duet {
namespace {
thread_local bool g_recording = false;
}  // namespace

bool recording_active() {
  return g_recording;
}
void set_recording_active(bool active) {
  g_recording = active;
}

}  // namespace duet

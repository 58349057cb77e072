// Runtime defaults of a DUET_SANITIZE build (cmake/sanitizers.cmake), compiled into every
// program linking duet in the build tree. ASAN_OPTIONS / UBSAN_OPTIONS in the environment are
// parsed after these and override them.
//
//   ASAN_OPTIONS=detect_leaks=0 ./duet_test_core   # e.g. turn leak checking off for one run
extern "C" {
// Exit code 66 on any report (the default, 1, is what the example programs' error tests expect,
// so a report after the expected message would pass them).
// Stop at the first error; leaks are reported (the allocator's intentional leak at exit is
// reachable from a global, so LeakSanitizer ignores it); check static-initialisation order.
const char* __asan_default_options() {
  return "exitcode=66:halt_on_error=1:detect_leaks=1:check_initialization_order=1:"
         "strict_init_order=1:detect_stack_use_after_return=1";
}
// -fno-sanitize-recover=undefined already aborts on UB; print the stack that got there.
const char* __ubsan_default_options() { return "exitcode=66:halt_on_error=1:print_stacktrace=1"; }
}

// fuzz/fuzz_ops.cpp in the ordinary build, its entry point renamed (replay_test.cpp).
#define DUET_FUZZ_ENTRY duet_fuzz_ops
#include "../../fuzz/fuzz_ops.cpp"

// fuzz/fuzz_idx.cpp in the ordinary build, its entry point renamed (replay_test.cpp).
#define DUET_FUZZ_ENTRY duet_fuzz_idx
#include "../../fuzz/fuzz_idx.cpp"

// fuzz/fuzz_checkpoint.cpp in the ordinary build, its entry point renamed (replay_test.cpp).
#define DUET_FUZZ_ENTRY duet_fuzz_checkpoint
#include "../../fuzz/fuzz_checkpoint.cpp"

// fuzz/fuzz_store.cpp in the ordinary build, its entry point renamed (replay_test.cpp).
#define DUET_FUZZ_ENTRY duet_fuzz_store
#include "../../fuzz/fuzz_store.cpp"

// fuzz/fuzz_safetensors.cpp in the ordinary build, its entry point renamed (replay_test.cpp).
#define DUET_FUZZ_ENTRY duet_fuzz_safetensors
#include "../../fuzz/fuzz_safetensors.cpp"

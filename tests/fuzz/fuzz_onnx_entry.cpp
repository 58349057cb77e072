// fuzz/fuzz_onnx.cpp in the ordinary build, its entry point renamed (replay_test.cpp).
#define DUET_FUZZ_ENTRY duet_fuzz_onnx
#include "../../fuzz/fuzz_onnx.cpp"

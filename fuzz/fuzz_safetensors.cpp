// libFuzzer target: the bytes as a safetensors file, through the public API
// (duet::io::load_safetensors and load_safetensors_metadata). Either returns or throws
// duet::Error; on success the tensors must be consistent with their shapes and fit in the file.
//
//   scripts/fuzz.sh fuzz_safetensors 60 -dict=fuzz/safetensors.dict
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "duet/io/safetensors.h"
#include "duet/memory.h"
#include "duet/nn/module.h"
#include "duet/threads.h"
#include "fuzz_util.h"

namespace {

void check_tensors(const duet::nn::StateDict& sd, size_t file_size) {
  for (const auto& [name, t] : sd) {
    DUET_FUZZ_EXPECT(t.defined(), "load_safetensors", "undefined tensor " + name);
    DUET_FUZZ_EXPECT(t.numel() == duet::numel(t.shape()), "load_safetensors",
                     "numel disagrees with shape for " + name);
    DUET_FUZZ_EXPECT(name.size() <= file_size, "load_safetensors", "name longer than the file");
    // Every dtype is loaded as stored (F16/BF16 as float16/bfloat16): at most the file's bytes.
    const size_t bytes = static_cast<size_t>(t.numel()) * duet::dtype_size(t.dtype());
    DUET_FUZZ_EXPECT(
        bytes <= file_size, "load_safetensors",
        name + ": " + std::to_string(bytes) + " bytes from a file of " + std::to_string(file_size));
    // Touch every element (ASan sees any read past the buffer).
    double sum = 0;
    for (double v : t.contiguous().to_vector<double>()) sum += v;
    (void)sum;
  }
}

}  // namespace

extern "C" int DUET_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  duet::fuzz::MemFile* file = &duet::fuzz::loader_file();
  file->write(data, size);
  duet::fuzz::expect_result_or_error("load_safetensors", [&] {
    check_tensors(duet::io::load_safetensors(file->path()), size);
  });
  duet::fuzz::expect_result_or_error("load_safetensors_metadata", [&] {
    for (const auto& [k, v] : duet::io::load_safetensors_metadata(file->path()))
      DUET_FUZZ_EXPECT(k.size() + v.size() <= size, "load_safetensors_metadata",
                       "metadata larger than the file");
  });
  return 0;
}

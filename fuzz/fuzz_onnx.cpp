// libFuzzer target: the bytes as an ONNX model, through the public API (duet::onnx::load).
// When the model loads and every input has a fixed, small shape (at most 100,000 elements
// in all), it runs once on zeros of the declared shapes and dtypes. load and forward_many
// either return or throw duet::Error; on success the outputs must be as many as declared and
// defined, and every element is read (ASan sees a read past a buffer).
//
//   scripts/fuzz.sh fuzz_onnx 60     (BUILD_DIR=build-fuzz-onnx: the clang-19 build with ONNX)
//   seeds: fuzz/corpus/fuzz_onnx/, made by fuzz/make_onnx_seeds.py
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "duet/onnx.h"
#include "fuzz_util.h"

namespace {

// Zeros of every declared input, or nothing when a shape is missing, symbolic or too big.
bool make_inputs(const duet::onnx::Model& m, std::vector<duet::Tensor>* inputs) {
  int64_t total = 0;
  for (const duet::onnx::ValueInfo& v : m.inputs()) {
    if (!v.has_shape) return false;
    int64_t n = 1;
    for (int64_t d : v.dims) {
      if (d < 0 || d > 100'000) return false;
      n *= d;  // <= 1e5 per step after the check below: no overflow
      if (n > 100'000) return false;
    }
    total += n;
    if (total > 100'000) return false;
    inputs->push_back(duet::Tensor::zeros(v.dims, v.dtype));
  }
  return true;
}

// One forward on the zeros; every output is read.
void run(duet::onnx::Model& model, const std::vector<duet::Tensor>& inputs) {
  duet::fuzz::expect_result_or_error("onnx::Model::forward_many", [&] {
    std::vector<duet::Tensor> outs = model.forward_many(inputs);
    DUET_FUZZ_EXPECT(outs.size() == model.outputs().size(), "onnx::Model::forward_many",
                     "output count differs from the declared outputs");
    for (const duet::Tensor& t : outs) {
      DUET_FUZZ_EXPECT(t.defined(), "onnx::Model::forward_many", "undefined output");
      if (t.numel() > 1'000'000) continue;
      double sum = 0;
      for (double v : t.to_vector<double>()) sum += v;
      (void)sum;
    }
  });
}

}  // namespace

extern "C" int DUET_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  duet::fuzz::MemFile* file = &duet::fuzz::loader_file();  // 1 thread, 256 MB memory limit
  file->write(data, size);
  duet::onnx::LoadOptions options;
  options.max_tensor_bytes = 16 << 20;
  options.max_total_tensor_bytes = 64 << 20;
  options.max_nodes = 10'000;
  std::shared_ptr<duet::onnx::Model> model;
  duet::fuzz::expect_result_or_error("onnx::load", [&] {
    model = duet::onnx::load(file->path(), options);
    DUET_FUZZ_EXPECT(model != nullptr, "onnx::load", "returned null");
  });
  if (model) {
    std::vector<duet::Tensor> inputs;
    if (make_inputs(*model, &inputs)) run(*model, inputs);
  }
  // The caching allocator keeps every freed block for reuse: over a campaign, inputs of ever
  // new sizes (each within the 256 MB limit) would grow it past libFuzzer's RSS limit.
  model.reset();
  duet::empty_cache(duet::cpu);
  return 0;
}

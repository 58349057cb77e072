// Consumer smoke test: y = relu(x * w + b), one backward, prints the gradient sum; then says
// what CUDA looks like from here (the loader's reason when there is no device), so
// run_consumer.cmake can check the run-time loading of the CUDA backend library.
#include <duet/duet.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

int main() {
  duet::Tensor x = duet::Tensor::from_vector({1, -2, 3}, {3});
  duet::Tensor w = duet::Tensor::from_vector({2, 2, 2}, {3}).requires_grad_();
  duet::Tensor y = duet::mul(x, w);
  y.backward(duet::Tensor::ones({3}));
  // dy/dw = x -> 1 - 2 + 3 = 2
  std::vector<float> g = w.grad().to_vector<float>();
  float s = g[0] + g[1] + g[2];
  if (s != 2.0f) {
    std::cout << "consumer FAILED: grad sum " << s << ", expected 2\n";
    return 1;
  }
  // The whole API from <duet/duet.h>: a module, an optimizer, a compiled training step
  // (documented designated initializers, which must not warn under -Wextra), a summary.
  auto fc = std::make_shared<duet::nn::Linear>(3, 2);
  duet::optim::Adam adam(fc->parameters(), 1e-3);
  auto step = duet::jit([&](const std::vector<duet::Tensor>& in) {
    return std::vector<duet::Tensor>{duet::sum((*fc)(in[0]))};
  }, {.training = true, .optimizer = &adam}, "step");
  step({duet::Tensor::ones({4, 3})});
  auto conv = duet::nn::make<duet::nn::Conv2d>(1, 4, 3, {.padding = 1});
  duet::Summary summary = duet::summary(*conv, {1, 1, 8, 8});
  if (summary.total_params != 40 || conv->options.padding != duet::Int2{1, 1}) {
    std::cout << "consumer FAILED: summary " << summary.total_params << " params\n";
    return 1;
  }
  std::cout << "consumer ok, grad sum " << s << "\n";
  if (duet::cuda_available()) {
    std::cout << "cuda available: " << duet::cuda_device_count() << " device(s), backend "
              << duet::cuda_backend_path() << "\n";
  } else {
    std::cout << "cuda unavailable: " << duet::cuda_unavailable_reason() << "\n";
    try {
      duet::Tensor::zeros({2}, duet::float32, duet::cuda);
      std::cout << "device error: none\n";
    } catch (const duet::Error& e) {
      std::cout << "device error: " << e.what() << "\n";
    }
  }
  // The CUDA libraries mapped into this process now (Linux): none unless the backend loaded.
  std::set<std::string> mapped;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    for (const char* lib : {"libcudart", "libcublas", "libcudnn", "libcuda.so"})
      if (line.find(lib) != std::string::npos) mapped.insert(lib);
  std::cout << "mapped CUDA libraries:";
  for (const auto& lib : mapped) std::cout << " " << lib;
  std::cout << (mapped.empty() ? " none\n" : "\n");
  return 0;
}

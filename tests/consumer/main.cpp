// Consumer smoke test: y = relu(x * w + b), one backward, prints the gradient sum.
#include <duet/duet.h>

#include <iostream>

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
  std::cout << "consumer ok, grad sum " << s << "\n";
  return 0;
}

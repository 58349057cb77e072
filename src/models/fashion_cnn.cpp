#include "duet/models/fashion_cnn.h"

namespace duet::models {

std::shared_ptr<nn::Sequential> fashion_cnn(Generator& gen, double dropout) {
  using std::make_shared;
  const Conv2dOptions same{.padding = {1, 1}};
  auto net = make_shared<nn::Sequential>();
  net->push_back(make_shared<nn::Conv2d>(1, 32, 3, same, /*bias=*/false, gen));   // 0
  net->push_back(make_shared<nn::BatchNorm2d>(32));                               // 1
  net->push_back(make_shared<nn::ReLU>());                                        // 2
  net->push_back(make_shared<nn::MaxPool2d>(2));                                  // 3
  net->push_back(make_shared<nn::Conv2d>(32, 64, 3, same, /*bias=*/false, gen));  // 4
  net->push_back(make_shared<nn::BatchNorm2d>(64));                               // 5
  net->push_back(make_shared<nn::ReLU>());                                        // 6
  net->push_back(make_shared<nn::MaxPool2d>(2));                                  // 7
  net->push_back(make_shared<nn::Flatten>());                                     // 8
  net->push_back(make_shared<nn::Linear>(64 * 7 * 7, 128, true, gen));            // 9
  net->push_back(make_shared<nn::ReLU>());                                        // 10
  net->push_back(make_shared<nn::Dropout>(dropout));                              // 11
  net->push_back(make_shared<nn::Linear>(128, 10, true, gen));                    // 12
  return net;
}

}  // namespace duet::models

// Neural-network modules, initialisation and containers (duet::nn).
//
//   #include <duet/nn.h>
//   namespace nn = duet::nn;
//   auto net = std::make_shared<nn::Sequential>();
//   net->push_back(std::make_shared<nn::Conv2d>(1, 32, 3, duet::Conv2dOptions{.padding = {1, 1}}));
//   net->push_back(std::make_shared<nn::BatchNorm2d>(32));
//   net->push_back(std::make_shared<nn::ReLU>());
//   net->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
//   net->push_back(std::make_shared<nn::Flatten>());
//   net->push_back(std::make_shared<nn::Linear>(32, 10));
//   auto logits = (*net)(x);                    // x: (N, 1, 28, 28) -> (N, 10)
//   for (auto& [name, t] : net->state_dict()) std::cout << name << "\n";
#pragma once

#include "duet/nn/activation.h"
#include "duet/nn/container.h"
#include "duet/nn/conv.h"
#include "duet/nn/dropout.h"
#include "duet/nn/init.h"
#include "duet/nn/linear.h"
#include "duet/nn/module.h"
#include "duet/nn/norm.h"
#include "duet/nn/pooling.h"
#include "duet/nn/stochastic_depth.h"
#include "duet/nn/sync_batch_norm.h"

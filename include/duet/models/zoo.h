// The model zoo: torchvision's image classifiers, written once against duet's public ops.
// Architectures, state_dict names and parameter counts match torchvision 0.14, so a
// torchvision state_dict (e.g. read from safetensors) loads straight in.
//
//   duet::Generator gen(0);
//   auto net = duet::models::create_model("resnet50", /*num_classes=*/1000, gen);
//   net->eval();
//   auto logits = (*net)(x);                    // x: (N, 3, H, W) -> (N, 1000)
//   duet::models::model_names();                // {"resnet18", ..., "efficientnet_b7"}
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "duet/nn/module.h"
#include "duet/random.h"

namespace duet::models {

// Every name create_model accepts, in the order the benchmark lists them:
// resnet18, resnet34, resnet50, resnet101, resnet152, vgg16, vgg16_bn, mobilenet_v2,
// efficientnet_b0 ... efficientnet_b7.
const std::vector<std::string>& model_names();

// Throws duet::Error "<who>: unknown model 'NAME' (known: resnet18, ...)" unless `name` is one
// of model_names(); cheap, so programs can check a name before reading any files.
void require_model(const std::string& name, const std::string& who = "create_model");

// Builds `name` with freshly initialised weights (torchvision's initialisation schemes,
// drawn from `gen`), in training mode. Dropout / stochastic depth draw from the default
// generator when they run, as graph executables do. Throws duet::Error naming the unknown model and
// listing the known ones.
std::shared_ptr<nn::Module> create_model(const std::string& name, int64_t num_classes = 1000,
                                         Generator& gen = default_generator());

}  // namespace duet::models

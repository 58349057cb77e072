// The model zoo (duet::models): torchvision's classifiers and the Fashion-MNIST CNN.
//
//   #include <duet/models.h>
//   duet::Generator gen(0);
//   auto net = duet::models::create_model("efficientnet_b0", /*num_classes=*/10, gen);
//   auto res = duet::models::resnet18(/*num_classes=*/1000, gen);   // or by family
//   auto logits = (*net)(x);                                         // (N, 3, H, W) -> (N, 10)
#pragma once

#include "duet/models/blocks.h"
#include "duet/models/efficientnet.h"
#include "duet/models/fashion_cnn.h"
#include "duet/models/mobilenet_v2.h"
#include "duet/models/resnet.h"
#include "duet/models/vgg.h"
#include "duet/models/zoo.h"

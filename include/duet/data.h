// Data loading (duet::data): IDX files, MNIST-format datasets and a prefetching DataLoader.
//
//   #include <duet/data.h>
//   auto train = duet::data::load_fashion_mnist();   // images (60000, 1, 28, 28), labels (60000)
//   duet::data::DataLoader loader(train.images, train.labels, 128, /*shuffle=*/true, 0);
//   for (auto& b : loader) { /* b.x: (128, 1, 28, 28), b.y: (128) */ }
#pragma once

#include "duet/data/dataloader.h"
#include "duet/data/idx.h"
#include "duet/data/mnist.h"

// Data loading (duet::data): datasets (Dataset, TensorDataset, IdxDataset, MNIST-format
// directories), transforms, and a DataLoader with worker threads and prefetch.
//
//   #include <duet/data.h>
//   auto train = duet::data::load_fashion_mnist();   // images (60000, 1, 28, 28), labels (60000)
//   duet::data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 0,
//                                         .transform = duet::data::RandomHorizontalFlip()});
//   for (auto& b : loader) { /* b.x: (128, 1, 28, 28), b.y: (128) */ }
#pragma once

#include "duet/data/dataloader.h"
#include "duet/data/dataset.h"
#include "duet/data/idx.h"
#include "duet/data/idx_dataset.h"
#include "duet/data/mnist.h"
#include "duet/data/sampler.h"
#include "duet/data/transforms.h"

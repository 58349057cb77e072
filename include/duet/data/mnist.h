// MNIST-format datasets (Fashion-MNIST, MNIST) from the four standard IDX files.
//
//   auto train = duet::data::load_fashion_mnist();                        // default directory
//   train.images();  // (60000, 1, 28, 28) float32 in [0, 1]
//   train.labels();  // (60000) int64 in [0, 9]
//   train.get(0);    // an Example {x (1, 28, 28), y ()}: an IdxDataset is a Dataset
//   auto test = duet::data::load_fashion_mnist(duet::data::kFashionMnistDir, /*train=*/false,
//                                              /*normalize=*/true);  // (x - 0.2860) / 0.3530
//
// Each file may be gzip-compressed (name.gz, preferred) or raw (name).
#pragma once

#include <string>

#include "duet/data/idx_dataset.h"

namespace duet::data {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr double kFashionMnistMean = 0.2860;
inline constexpr double kFashionMnistStd = 0.3530;
inline constexpr double kMnistMean = 0.1307;
inline constexpr double kMnistStd = 0.3081;

// Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from `dir`. Pixels become
// (pixel / 255 - mean) / std. Errors name the directory or file and what was expected, and
// report an image/label count mismatch.
IdxDataset load_mnist_dir(const std::string& dir, bool train = true, double mean = 0.0,
                       double std = 1.0);

IdxDataset load_fashion_mnist(const std::string& dir = kFashionMnistDir, bool train = true,
                           bool normalize = false);

}  // namespace duet::data

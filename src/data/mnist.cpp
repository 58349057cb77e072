// MNIST-format datasets: the four IDX files of a directory, checked against each other.
#include "duet/data/mnist.h"

#include <filesystem>

#include "duet/data/idx.h"

namespace duet::data {
namespace {

namespace fs = std::filesystem;

// dir/name.gz when present, else dir/name; throws naming the file that was expected.
std::string locate(const char* fn, const std::string& dir, const std::string& name,
                   const char* what) {
  const fs::path gz = fs::path(dir) / (name + ".gz");
  const fs::path raw = fs::path(dir) / name;
  std::error_code ec;
  if (fs::is_regular_file(gz, ec)) return gz.string();
  if (fs::is_regular_file(raw, ec)) return raw.string();
  throw Error(detail::cat(fn, ": ", what, " file '", gz.string(), "' not found (expected ", name,
                          ".gz or ", name, " in '", dir, "')"));
}

IdxDataset load(const char* fn, const std::string& dir, bool train, double mean, double std) {
  DUET_CHECK(std > 0, fn, ": std = ", std, " (expected > 0)");
  std::error_code ec;
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_name = prefix + "-images-idx3-ubyte";
  const std::string labels_name = prefix + "-labels-idx1-ubyte";
  DUET_CHECK(fs::is_directory(dir, ec), fn, ": dataset directory '", dir,
             "' does not exist (expected a directory holding ", images_name, ".gz and ",
             labels_name, ".gz)");
  const std::string images_path =
      locate(fn, dir, images_name, train ? "training images" : "test images");
  const std::string labels_path =
      locate(fn, dir, labels_name, train ? "training labels" : "test labels");
  return IdxDataset(images_path, labels_path, {.mean = mean, .std = std, .caller = fn});
}

}  // namespace

IdxDataset load_mnist_dir(const std::string& dir, bool train, double mean, double std) {
  return load("load_mnist_dir", dir, train, mean, std);
}

IdxDataset load_fashion_mnist(const std::string& dir, bool train, bool normalize) {
  return load("load_fashion_mnist", dir, train, normalize ? kFashionMnistMean : 0.0,
              normalize ? kFashionMnistStd : 1.0);
}

}  // namespace duet::data

// The model zoo's registry: name -> builder, in the order model_names() lists them.
#include "duet/models/zoo.h"

#include <functional>
#include <utility>

#include "duet/models/efficientnet.h"
#include "duet/models/mobilenet_v2.h"
#include "duet/models/resnet.h"
#include "duet/models/vgg.h"

namespace duet::models {
namespace {

using Builder = std::function<std::shared_ptr<nn::Module>(int64_t, Generator&)>;

const std::vector<std::pair<std::string, Builder>>& registry() {
  static const std::vector<std::pair<std::string, Builder>> r = {
      {"resnet18", [](int64_t n, Generator& g) { return resnet18(n, g); }},
      {"resnet34", [](int64_t n, Generator& g) { return resnet34(n, g); }},
      {"resnet50", [](int64_t n, Generator& g) { return resnet50(n, g); }},
      {"resnet101", [](int64_t n, Generator& g) { return resnet101(n, g); }},
      {"resnet152", [](int64_t n, Generator& g) { return resnet152(n, g); }},
      {"vgg16", [](int64_t n, Generator& g) { return vgg16(n, g); }},
      {"vgg16_bn", [](int64_t n, Generator& g) { return vgg16_bn(n, g); }},
      {"mobilenet_v2", [](int64_t n, Generator& g) { return mobilenet_v2(n, g); }},
      {"efficientnet_b0", [](int64_t n, Generator& g) { return efficientnet(0, n, g); }},
      {"efficientnet_b1", [](int64_t n, Generator& g) { return efficientnet(1, n, g); }},
      {"efficientnet_b2", [](int64_t n, Generator& g) { return efficientnet(2, n, g); }},
      {"efficientnet_b3", [](int64_t n, Generator& g) { return efficientnet(3, n, g); }},
      {"efficientnet_b4", [](int64_t n, Generator& g) { return efficientnet(4, n, g); }},
      {"efficientnet_b5", [](int64_t n, Generator& g) { return efficientnet(5, n, g); }},
      {"efficientnet_b6", [](int64_t n, Generator& g) { return efficientnet(6, n, g); }},
      {"efficientnet_b7", [](int64_t n, Generator& g) { return efficientnet(7, n, g); }},
  };
  return r;
}

}  // namespace

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> r;
    for (const auto& entry : registry()) r.push_back(entry.first);
    return r;
  }();
  return names;
}

void require_model(const std::string& name, const std::string& who) {
  for (const auto& entry : registry())
    if (entry.first == name) return;
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(::duet::detail::cat(who, ": unknown model '", name, "' (known: ", known, ")"));
}

std::shared_ptr<nn::Module> create_model(const std::string& name, int64_t num_classes,
                                         Generator& gen) {
  require_model(name, "create_model");
  DUET_CHECK(num_classes >= 1, "create_model: num_classes = ", num_classes, " for '", name,
             "' (expected >= 1)");
  for (const auto& [known, build] : registry())
    if (known == name) return build(num_classes, gen);
  return nullptr;  // unreachable: require_model threw
}

}  // namespace duet::models

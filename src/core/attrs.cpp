#include "duet/attrs.h"

#include <functional>
#include <sstream>

#include "duet/error.h"

namespace duet {

Attrs& Attrs::set(const std::string& name, AttrValue value) {
  for (auto& [k, v] : items_) {
    if (k == name) {
      v = std::move(value);
      return *this;
    }
  }
  items_.emplace_back(name, std::move(value));
  return *this;
}

bool Attrs::has(const std::string& name) const {
  for (auto& kv : items_)
    if (kv.first == name) return true;
  return false;
}

// The attrs for an error message, at most ~200 characters (attributes may come from files).
static std::string short_str(const Attrs& a) {
  std::string r = a.str();
  if (r.size() > 200) r = r.substr(0, 200) + "...";
  return r;
}

const AttrValue& Attrs::get(const std::string& name) const {
  for (auto& kv : items_)
    if (kv.first == name) return kv.second;
  throw AttrError(detail::cat("attribute '", name.substr(0, 100), "' is missing from {",
                              short_str(*this), "}"));
}

template <class T>
static const T& typed(const AttrValue& v, const std::string& name, const char* want) {
  const T* p = std::get_if<T>(&v);
  if (!p) throw AttrError(detail::cat("attribute '", name.substr(0, 100), "' is not ", want));
  return *p;
}

int64_t Attrs::i(const std::string& n) const {
  return typed<int64_t>(get(n), n, "an int");
}
double Attrs::f(const std::string& n) const {
  const AttrValue& v = get(n);
  if (auto* iv = std::get_if<int64_t>(&v)) return static_cast<double>(*iv);
  return typed<double>(v, n, "a double");
}
bool Attrs::b(const std::string& n) const {
  return typed<bool>(get(n), n, "a bool");
}
const std::vector<int64_t>& Attrs::ints(const std::string& n) const {
  return typed<std::vector<int64_t>>(get(n), n, "an int list");
}
const std::string& Attrs::s(const std::string& n) const {
  return typed<std::string>(get(n), n, "a string");
}

std::string Attrs::str() const {
  std::ostringstream os;
  bool first = true;
  for (auto& [k, v] : items_) {
    if (!first) os << ", ";
    first = false;
    os << k << "=";
    std::visit(
        [&](const auto& x) {
          using X = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<X, std::vector<int64_t>>) {
            os << "[";
            for (size_t i = 0; i < x.size(); ++i) os << (i ? ", " : "") << x[i];
            os << "]";
          } else if constexpr (std::is_same_v<X, bool>) {
            os << (x ? "true" : "false");
          } else {
            os << x;
          }
        },
        v);
  }
  return os.str();
}

size_t Attrs::hash() const {
  return std::hash<std::string>{}(str());
}

}  // namespace duet

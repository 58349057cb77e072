// Op attributes as plain data: printable, hashable, comparable.
//
//   duet::Attrs a;
//   a.set("stride", std::vector<int64_t>{2, 2}).set("groups", int64_t{1});
//   a.ints("stride");   // {2, 2}
//   a.str();            // "stride=[2, 2], groups=1"
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "duet/error.h"

namespace duet {

// Thrown by the typed getters for a missing attribute or one of another type ("attribute
// 'axes' is not an int list"); op calls rethrow it as a duet::Error naming the op.
class AttrError : public Error {
 public:
  using Error::Error;
};

using AttrValue = std::variant<int64_t, double, bool, std::vector<int64_t>, std::string>;

// The typed getters (i, f, b, ints, s) throw AttrError when the attribute is absent or holds
// another type (f accepts an int).
class Attrs {
 public:
  Attrs& set(const std::string& name, AttrValue value);
  bool has(const std::string& name) const;
  int64_t i(const std::string& name) const;
  double f(const std::string& name) const;
  bool b(const std::string& name) const;
  const std::vector<int64_t>& ints(const std::string& name) const;
  const std::string& s(const std::string& name) const;
  // With defaults when absent.
  int64_t i(const std::string& name, int64_t dflt) const { return has(name) ? i(name) : dflt; }
  double f(const std::string& name, double dflt) const { return has(name) ? f(name) : dflt; }
  bool b(const std::string& name, bool dflt) const { return has(name) ? b(name) : dflt; }

  const std::vector<std::pair<std::string, AttrValue>>& items() const { return items_; }
  std::string str() const;
  size_t hash() const;
  bool operator==(const Attrs& other) const = default;

 private:
  const AttrValue& get(const std::string& name) const;
  std::vector<std::pair<std::string, AttrValue>> items_;
};

}  // namespace duet

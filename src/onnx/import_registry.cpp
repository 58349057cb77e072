// The importer's operator table: the families' tables (import_nn_ops.cpp, import_tensor_ops.cpp)
// joined and sorted by op_type, built once on first use. A repeated op_type is an internal
// error (two converters for one operator), raised by the first call.
#include <algorithm>
#include <cstring>

#include "duet/error.h"
#include "duet/onnx.h"
#include "onnx/import_ops.h"

namespace duet::onnx {
namespace detail {
namespace {

std::vector<OperatorDef> build_table() {
  std::vector<OperatorDef> all;
  for (const OperatorDef& d : nn_operators()) all.push_back(d);
  for (const OperatorDef& d : tensor_operators()) all.push_back(d);
  std::sort(all.begin(), all.end(), [](const OperatorDef& a, const OperatorDef& b) {
    return std::strcmp(a.op_type, b.op_type) < 0;
  });
  for (size_t i = 1; i < all.size(); ++i)
    DUET_ASSERT(std::strcmp(all[i - 1].op_type, all[i].op_type) != 0, "onnx: operator ",
                all[i].op_type, " has two converters (import_*_ops.cpp)");
  for (const OperatorDef& d : all)
    DUET_ASSERT(d.convert != nullptr, "onnx: operator ", d.op_type, " has no converter");
  return all;
}

const std::vector<OperatorDef>& table() {
  static const std::vector<OperatorDef> t = build_table();
  return t;
}

}  // namespace

std::span<const OperatorDef> all_operators() {
  return table();
}

const OperatorDef* find_operator(const std::string& op_type) {
  const std::vector<OperatorDef>& t = table();
  auto it =
      std::lower_bound(t.begin(), t.end(), op_type, [](const OperatorDef& d, const std::string& k) {
        return std::strcmp(d.op_type, k.c_str()) < 0;
      });
  if (it == t.end() || op_type != it->op_type) return nullptr;
  return &*it;
}

}  // namespace detail

std::vector<std::string> supported_operators() {
  std::vector<std::string> names;
  for (const detail::OperatorDef& d : detail::all_operators()) names.emplace_back(d.op_type);
  return names;
}

}  // namespace duet::onnx

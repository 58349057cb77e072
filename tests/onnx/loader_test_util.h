// Builds small ONNX models in C++ with the generated protobuf classes, for the loader's tests
// (load_test.cpp, model_test.cpp).
//
//   OnnxBuilder b(13);
//   b.input("x", ::onnx::TensorProto::FLOAT, {-1, 3});   // -1: the symbolic dim "N"
//   b.node("Relu", {"x"}, {"y"});
//   b.output("y", ::onnx::TensorProto::FLOAT, {-1, 3});
//   auto m = b.load();                                    // "test.onnx" in messages
//   std::string err = b.load_error();                     // "" when it loads
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "duet/onnx.h"
#include "onnx/import_ops.h"
#include "onnx/proto.h"

namespace duet::test {

class OnnxBuilder {
 public:
  explicit OnnxBuilder(int64_t opset = 13) {
    m.set_ir_version(8);
    m.set_producer_name("loader-test");
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    m.mutable_graph()->set_name("g");
  }
  ::onnx::GraphProto* g() { return m.mutable_graph(); }

  static void set_type(::onnx::ValueInfoProto* v, int32_t elem, const std::vector<int64_t>& dims) {
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) {
      auto* dim = shape->add_dim();
      if (d >= 0 || d < -1)
        dim->set_dim_value(d);
      else
        dim->set_dim_param("N");
    }
  }
  ::onnx::ValueInfoProto* input(const std::string& name, int32_t elem,
                                const std::vector<int64_t>& dims) {
    auto* v = g()->add_input();
    v->set_name(name);
    set_type(v, elem, dims);
    return v;
  }
  ::onnx::ValueInfoProto* output(const std::string& name, int32_t elem,
                                 const std::vector<int64_t>& dims) {
    auto* v = g()->add_output();
    v->set_name(name);
    set_type(v, elem, dims);
    return v;
  }
  ::onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& ins,
                          const std::vector<std::string>& outs, const std::string& name = "") {
    auto* n = g()->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_" + std::to_string(g()->node_size() - 1) : name);
    for (const auto& i : ins) n->add_input(i);
    for (const auto& o : outs) n->add_output(o);
    return n;
  }
  ::onnx::TensorProto* init(const std::string& name, const Tensor& t) {
    auto* p = g()->add_initializer();
    onnx::detail::tensor_to_proto(t, name, p);
    return p;
  }
  static ::onnx::AttributeProto* attr_int(::onnx::NodeProto* n, const std::string& name,
                                          int64_t v);
  static ::onnx::AttributeProto* attr_ints(::onnx::NodeProto* n, const std::string& name,
                                           const std::vector<int64_t>& v);
  std::string bytes() const { return m.SerializeAsString(); }
  std::shared_ptr<onnx::Model> load(const onnx::LoadOptions& o = {}) const {
    const std::string b = bytes();
    return onnx::load_from_memory(b.data(), b.size(), "test.onnx", o);
  }
  std::string load_error(const onnx::LoadOptions& o = {}) const {
    try {
      load(o);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  ::onnx::ModelProto m;
};

// Attributes of a node under construction (every test file builds nodes with these).
inline ::onnx::AttributeProto* add_attr(::onnx::NodeProto* n, const std::string& name,
                                        ::onnx::AttributeProto::AttributeType type) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(type);
  return a;
}
inline void attr(::onnx::NodeProto* n, const std::string& name, int64_t v) {
  add_attr(n, name, ::onnx::AttributeProto::INT)->set_i(v);
}
inline void attr(::onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = add_attr(n, name, ::onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
inline void attr_f(::onnx::NodeProto* n, const std::string& name, float v) {
  add_attr(n, name, ::onnx::AttributeProto::FLOAT)->set_f(v);
}
inline void attr_s(::onnx::NodeProto* n, const std::string& name, const std::string& v) {
  add_attr(n, name, ::onnx::AttributeProto::STRING)->set_s(v);
}
inline void attr_t(::onnx::NodeProto* n, const std::string& name, const Tensor& v) {
  onnx::detail::tensor_to_proto(v, "", add_attr(n, name, ::onnx::AttributeProto::TENSOR)->mutable_t());
}
inline ::onnx::AttributeProto* OnnxBuilder::attr_int(::onnx::NodeProto* n, const std::string& name,
                                                     int64_t v) {
  attr(n, name, v);
  return n->mutable_attribute(n->attribute_size() - 1);
}
inline ::onnx::AttributeProto* OnnxBuilder::attr_ints(::onnx::NodeProto* n,
                                                      const std::string& name,
                                                      const std::vector<int64_t>& v) {
  attr(n, name, v);
  return n->mutable_attribute(n->attribute_size() - 1);
}

inline bool have_ops(std::initializer_list<const char*> ops) {
  for (const char* op : ops)
    if (onnx::detail::find_operator(op) == nullptr) return false;
  return true;
}

}  // namespace duet::test

// Fails a test whose model needs converters that are not registered (an operator dropped
// from the import tables shows here first, naming the operators).
#define DUET_NEED_OPS(...)                                                        \
  ASSERT_TRUE(::duet::test::have_ops({__VA_ARGS__}))                              \
      << "ONNX converters missing from the import tables: " #__VA_ARGS__

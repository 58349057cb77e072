// The ONNX loader on hostile input: TensorProto decoding, and every malformed model load()
// rejects with a duet::Error naming what is wrong (src/onnx/tensor_proto.cpp, load.cpp).
#include <filesystem>
#include <fstream>
#include <random>

#include "loader_test_util.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;
using ::onnx::TensorProto;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

std::string decode_error(const TensorProto& p,
                         const duet::onnx::detail::TensorLimits& limits = {}) {
  try {
    duet::onnx::detail::tensor_from_proto(p, "t.onnx", limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("duet_onnx_load_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// x (float, (N, 3)) -> y = x: a model without nodes (the graph output is the input).
OnnxBuilder passthrough() {
  OnnxBuilder b;
  b.input("x", TensorProto::FLOAT, {-1, 3});
  b.output("x", TensorProto::FLOAT, {-1, 3});
  return b;
}

// ---- TensorProto -------------------------------------------------------------------------

TEST(OnnxTensorProto, RoundTripsEveryDtype) {
  const std::vector<Tensor> ts = {
      Tensor::from_vector({1.5, -2, 3, 4, 5, 6}, {2, 3}),
      Tensor::from_vector({1e300, -0.5}, {2}, float64),
      Tensor::from_vector<int64_t>({-1, int64_t{1} << 40, 7}, {3}),
      Tensor::from_vector<bool>({true, false, true, true}, {2, 2}),
      Tensor::scalar(2.5),
      Tensor::zeros({0, 3}),
  };
  for (const Tensor& t : ts) {
    TensorProto p;
    duet::onnx::detail::tensor_to_proto(t, "w", &p);
    EXPECT_EQ(p.name(), "w");
    EXPECT_TRUE(p.has_raw_data());
    Tensor back = duet::onnx::detail::tensor_from_proto(p, "t.onnx");
    EXPECT_EQ(back.dtype(), t.dtype());
    EXPECT_EQ(back.shape(), t.shape());
    EXPECT_EQ(back.to_vector<double>(), t.to_vector<double>());
  }
}

TEST(OnnxTensorProto, WritesStridedTensorsRowMajor) {
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);  // (3, 2)
  TensorProto p;
  duet::onnx::detail::tensor_to_proto(t, "t", &p);
  Tensor back = duet::onnx::detail::tensor_from_proto(p, "t.onnx");
  EXPECT_EQ(back.shape(), Shape({3, 2}));
  EXPECT_EQ(back.to_vector<double>(), std::vector<double>({1, 4, 2, 5, 3, 6}));
}

TEST(OnnxTensorProto, ReadsTypedFields) {
  TensorProto f;
  f.set_data_type(TensorProto::FLOAT);
  f.add_dims(2);
  f.add_float_data(1.25f);
  f.add_float_data(-3);
  EXPECT_EQ(duet::onnx::detail::tensor_from_proto(f, "t").to_vector<double>(),
            std::vector<double>({1.25, -3}));

  TensorProto i32;  // INT32 lives in int32_data and is widened to int64
  i32.set_data_type(TensorProto::INT32);
  i32.add_dims(3);
  for (int v : {-7, 0, 2147483647}) i32.add_int32_data(v);
  Tensor t = duet::onnx::detail::tensor_from_proto(i32, "t");
  EXPECT_EQ(t.dtype(), int64);
  EXPECT_EQ(t.to_vector<int64_t>(), std::vector<int64_t>({-7, 0, 2147483647}));

  TensorProto b;  // BOOL lives in int32_data too
  b.set_data_type(TensorProto::BOOL);
  b.add_dims(2);
  b.add_int32_data(1);
  b.add_int32_data(0);
  EXPECT_EQ(duet::onnx::detail::tensor_from_proto(b, "t").to_vector<int64_t>(),
            std::vector<int64_t>({1, 0}));

  TensorProto d;
  d.set_data_type(TensorProto::DOUBLE);  // a scalar: no dims, one value
  d.add_double_data(0.1);
  Tensor s = duet::onnx::detail::tensor_from_proto(d, "t");
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item(), 0.1);

  TensorProto i64;
  i64.set_data_type(TensorProto::INT64);
  i64.add_dims(1);
  i64.add_int64_data(int64_t{1} << 50);
  EXPECT_EQ(duet::onnx::detail::tensor_from_proto(i64, "t").item<int64_t>(), int64_t{1} << 50);

  TensorProto raw32;  // INT32 raw_data: 4 bytes each, little-endian
  raw32.set_data_type(TensorProto::INT32);
  raw32.add_dims(2);
  const int32_t vals[2] = {-2, 65536};
  raw32.set_raw_data(std::string(reinterpret_cast<const char*>(vals), sizeof vals));
  EXPECT_EQ(duet::onnx::detail::tensor_from_proto(raw32, "t").to_vector<int64_t>(),
            std::vector<int64_t>({-2, 65536}));
}

TEST(OnnxTensorProto, RejectsHostileTensors) {
  TensorProto p;
  p.set_name("w");
  p.set_data_type(TensorProto::FLOAT);
  p.add_dims(2);
  p.add_dims(3);
  p.set_raw_data(std::string(20, '\0'));
  EXPECT_THAT(decode_error(p), HasSubstr("onnx: t.onnx: tensor 'w': raw_data holds 20 bytes, "
                                         "but shape (2, 3) of FLOAT needs 24"));

  TensorProto absurd = p;  // (2^62, 4) floats: refused before allocating
  absurd.set_dims(0, int64_t{1} << 62);
  absurd.set_dims(1, 4);
  EXPECT_THAT(decode_error(absurd), HasSubstr("more elements than fit in int64"));
  absurd.set_dims(1, 1);
  EXPECT_THAT(decode_error(absurd), HasSubstr("max_tensor_bytes"));
  TensorProto zero_excuse = p;  // a zero dim does not excuse the others
  zero_excuse.set_dims(0, 0);
  zero_excuse.set_dims(1, int64_t{1} << 62);
  zero_excuse.add_dims(int64_t{1} << 62);
  EXPECT_THAT(decode_error(zero_excuse), HasSubstr("more elements than fit in int64"));

  TensorProto neg = p;
  neg.set_dims(1, -3);
  EXPECT_THAT(decode_error(neg), HasSubstr("dim 1 is -3 (expected >= 0)"));

  TensorProto many = p;
  many.clear_dims();
  for (int i = 0; i < 65; ++i) many.add_dims(1);
  many.set_raw_data(std::string(4, '\0'));
  EXPECT_THAT(decode_error(many), HasSubstr("has 65 dims, more than the limit of 64"));

  TensorProto field = p;
  field.clear_raw_data();
  field.add_float_data(1);
  EXPECT_THAT(decode_error(field),
              HasSubstr("float_data holds 1 values, but shape (2, 3) needs 6"));

  TensorProto ext = p;
  ext.set_data_location(TensorProto::EXTERNAL);
  EXPECT_THAT(decode_error(ext), HasSubstr("external data is not supported"));

  TensorProto half = p;
  half.set_data_type(TensorProto::FLOAT16);
  EXPECT_THAT(decode_error(half), HasSubstr("element type FLOAT16 is not supported"));
  TensorProto str = p;
  str.set_data_type(TensorProto::STRING);
  EXPECT_THAT(decode_error(str), HasSubstr("element type STRING is not supported"));
  TensorProto bogus = p;
  bogus.set_data_type(99);
  EXPECT_THAT(decode_error(bogus), HasSubstr("element type <99> is not supported"));

  duet::onnx::detail::TensorLimits small;
  small.max_bytes = 16;
  EXPECT_THAT(decode_error(p, small), HasSubstr("is more than 16 bytes"));
}

TEST(OnnxTensorProto, DtypeNames) {
  EXPECT_STREQ(duet::onnx::detail::onnx_dtype_name(TensorProto::FLOAT), "FLOAT");
  EXPECT_STREQ(duet::onnx::detail::onnx_dtype_name(TensorProto::BFLOAT16), "BFLOAT16");
  EXPECT_EQ(duet::onnx::detail::onnx_dtype(DType::float16), TensorProto::FLOAT16);
  EXPECT_EQ(duet::onnx::detail::dtype_from_onnx(TensorProto::INT32, "x"), int64);
  EXPECT_THROW(duet::onnx::detail::dtype_from_onnx(TensorProto::UINT8, "x"), Error);
}

TEST(OnnxTensorProto, SaveLoadTensorFiles) {
  EXPECT_TRUE(duet::onnx::available());
  const std::string path = temp_path("t.pb");
  Tensor t = Tensor::from_vector({1, -2, 3.5, 4, 5, 6}, {3, 2});
  duet::onnx::save_tensor(t, path, "input_0");
  Tensor back = duet::onnx::load_tensor(path);
  EXPECT_EQ(back.shape(), t.shape());
  EXPECT_EQ(back.to_vector<double>(), t.to_vector<double>());
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << "\xff\xff\xff garbage";
  }
  try {
    duet::onnx::load_tensor(path);
    ADD_FAILURE() << "garbage loaded";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("not a valid TensorProto"));
  }
  std::filesystem::remove(path);
  EXPECT_THROW(duet::onnx::load_tensor(path), Error);
}

TEST(OnnxTensorProto, ReadsOnnxBackendTestData) {
  const std::string dir = "/usr/share/libonnx-testdata/data/node/test_abs/test_data_set_0/";
  if (!std::filesystem::exists(dir + "input_0.pb")) GTEST_SKIP() << "no libonnx-testdata";
  Tensor x = duet::onnx::load_tensor(dir + "input_0.pb");
  Tensor y = duet::onnx::load_tensor(dir + "output_0.pb");
  EXPECT_EQ(x.shape(), Shape({3, 4, 5}));
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  ASSERT_EQ(xv.size(), yv.size());
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_EQ(std::abs(xv[i]), yv[i]);
}

// ---- malformed models ----------------------------------------------------------------------

TEST(OnnxLoad, LoadsAModelWithoutNodes) {
  auto m = passthrough().load();
  ASSERT_EQ(m->inputs().size(), 1u);
  EXPECT_EQ(m->inputs()[0].name, "x");
  EXPECT_EQ(m->inputs()[0].dims, std::vector<int64_t>({-1, 3}));
  EXPECT_EQ(m->inputs()[0].dim_names, std::vector<std::string>({"N", ""}));
  EXPECT_EQ(m->opset(), 13);
  EXPECT_EQ(m->ir_version(), 8);
  EXPECT_EQ(m->producer_name(), "loader-test");
  EXPECT_EQ(m->path(), "test.onnx");
  EXPECT_EQ(m->type_name(), "onnx::Model");
  Tensor x = Tensor::from_vector({1, 2, 3}, {1, 3});
  EXPECT_EQ(m->run({{"x", x}})[0].to_vector<double>(), x.to_vector<double>());
}

TEST(OnnxLoad, RejectsTruncatedAndRandomBytes) {
  OnnxBuilder b = passthrough();
  b.init("w", Tensor::ones({64}));
  b.output("w", TensorProto::FLOAT, {64});
  const std::string bytes = b.bytes();
  // Cut inside the initializer's raw_data: a length-delimited field that runs past the end.
  std::string cut = bytes.substr(0, bytes.size() / 2);
  try {
    duet::onnx::load_from_memory(cut.data(), cut.size(), "cut.onnx");
    ADD_FAILURE() << "a truncated model loaded";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("onnx: cut.onnx: not a valid ONNX model (protobuf parse "
                                    "failed; truncated or not ONNX?)"));
  }
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string junk(static_cast<size_t>(rng() % 300), '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    try {
      duet::onnx::load_from_memory(junk.data(), junk.size(), "junk.onnx");
      ADD_FAILURE() << "random bytes loaded";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), StartsWith("onnx: junk.onnx: "));
    }
  }
  const std::string path = temp_path("missing.onnx");
  EXPECT_THROW(duet::onnx::load(path), Error);
}

TEST(OnnxLoad, RejectsUnsupportedOpsets) {
  for (int64_t opset : {6, 18}) {
    OnnxBuilder b = passthrough();
    b.m.mutable_opset_import(0)->set_version(opset);
    EXPECT_THAT(b.load_error(),
                HasSubstr("onnx: test.onnx: ai.onnx opset " + std::to_string(opset) +
                          " is not supported (duet reads opsets 7 ... 17)"));
  }
  OnnxBuilder none = passthrough();
  none.m.clear_opset_import();
  EXPECT_THAT(none.load_error(), HasSubstr("imports no ai.onnx opset"));
  OnnxBuilder dotted = passthrough();  // "ai.onnx" is the same domain as ""
  dotted.m.mutable_opset_import(0)->set_domain("ai.onnx");
  EXPECT_EQ(dotted.load_error(), "");
}

TEST(OnnxLoad, RejectsUnknownDomainsAndOperators) {
  OnnxBuilder b = passthrough();
  auto* n = b.node("FusedGemm", {"x"}, {"y"}, "fused");
  n->set_domain("com.microsoft");
  EXPECT_THAT(b.load_error(), HasSubstr("onnx: test.onnx: node 'fused' (FusedGemm): domain "
                                        "'com.microsoft' is not supported"));
  OnnxBuilder u = passthrough();
  u.node("NoSuchOp", {"x"}, {"y"}, "mystery");
  EXPECT_THAT(u.load_error(), HasSubstr("node 'mystery' (NoSuchOp): operator 'NoSuchOp' is not "
                                        "supported; supported operators: "));
  EXPECT_THAT(u.load_error(), HasSubstr("see duet::onnx::supported_operators() / docs/onnx.md"));
  OnnxBuilder unnamed = passthrough();
  unnamed.node("NoSuchOp", {"x"}, {"y"})->clear_name();
  EXPECT_THAT(unnamed.load_error(), HasSubstr("node #0 (NoSuchOp): operator"));
}

TEST(OnnxLoad, RejectsUnsupportedInputTypesAndAbsurdDims) {
  OnnxBuilder half;
  half.input("x", TensorProto::FLOAT16, {2});
  half.output("x", TensorProto::FLOAT16, {2});
  EXPECT_THAT(half.load_error(),
              HasSubstr("onnx: test.onnx: input 'x': element type FLOAT16 is not supported"));
  for (int64_t d : {int64_t{1} << 62, int64_t{-5}}) {
    OnnxBuilder b;
    b.input("x", TensorProto::FLOAT, {2, d});
    b.output("x", TensorProto::FLOAT, {2, d});
    EXPECT_THAT(b.load_error(),
                HasSubstr("input 'x': dim 1 is " + std::to_string(d) + " (expected 0 ... 2^40)"));
  }
  OnnxBuilder big;  // every dim fine, their product not
  big.input("x", TensorProto::FLOAT, {int64_t{1} << 40, int64_t{1} << 40});
  big.output("x", TensorProto::FLOAT, {2});
  EXPECT_THAT(big.load_error(), HasSubstr("more elements than fit in int64"));
  OnnxBuilder many;
  many.input("x", TensorProto::FLOAT, std::vector<int64_t>(65, 1));
  many.output("x", TensorProto::FLOAT, {});
  EXPECT_THAT(many.load_error(), HasSubstr("input 'x' has 65 dims, more than the limit of 64"));
  OnnxBuilder seq;
  seq.g()->add_input()->set_name("s");
  seq.output("s", TensorProto::FLOAT, {});
  EXPECT_THAT(seq.load_error(), HasSubstr("input 's' declares no tensor type"));
}

TEST(OnnxLoad, RejectsBadInitializers) {
  OnnxBuilder b = passthrough();
  auto* w = b.init("w", Tensor::ones({2, 3}));
  w->set_raw_data(std::string(8, '\0'));
  EXPECT_THAT(b.load_error(), HasSubstr("onnx: test.onnx: tensor 'w': raw_data holds 8 bytes, "
                                        "but shape (2, 3) of FLOAT needs 24"));
  OnnxBuilder dup = passthrough();
  dup.init("w", Tensor::ones({2}));
  dup.init("w", Tensor::ones({2}));
  EXPECT_THAT(dup.load_error(), HasSubstr("initializer 'w' is defined twice"));
  OnnxBuilder ext = passthrough();
  ext.init("w", Tensor::ones({2}))->set_data_location(TensorProto::EXTERNAL);
  EXPECT_THAT(ext.load_error(), HasSubstr("tensor 'w': external data is not supported"));
  OnnxBuilder limits = passthrough();
  limits.init("a", Tensor::ones({100}));
  limits.init("b", Tensor::ones({100}));
  EXPECT_THAT(limits.load_error({.max_tensor_bytes = 256}), HasSubstr("max_tensor_bytes"));
  EXPECT_THAT(limits.load_error({.max_total_tensor_bytes = 600}),
              HasSubstr("the initializers hold more than 600 bytes"));
  EXPECT_EQ(limits.load_error({.max_total_tensor_bytes = 800}), "");
}

TEST(OnnxLoad, ChecksTheGraphStructure) {
  DUET_NEED_OPS("Relu", "Add");
  OnnxBuilder cycle;
  cycle.input("x", TensorProto::FLOAT, {2});
  cycle.node("Add", {"x", "b"}, {"a"}, "first");
  cycle.node("Relu", {"a"}, {"b"}, "second");
  cycle.output("b", TensorProto::FLOAT, {2});
  EXPECT_THAT(cycle.load_error(),
              HasSubstr("onnx: test.onnx: node 'first' (Add): input 'b' is computed by node "
                        "'second' (Relu) later in the graph (a cycle, or nodes not in "
                        "topological order)"));
  OnnxBuilder self;
  self.input("x", TensorProto::FLOAT, {2});
  self.node("Add", {"x", "y"}, {"y"}, "loop");
  self.output("y", TensorProto::FLOAT, {2});
  EXPECT_THAT(self.load_error(), HasSubstr("input 'y' is computed by node 'loop' (Add) itself"));

  OnnxBuilder missing;
  missing.input("x", TensorProto::FLOAT, {2});
  missing.node("Add", {"x", "bias"}, {"y"}, "add");
  missing.output("y", TensorProto::FLOAT, {2});
  EXPECT_THAT(missing.load_error(),
              HasSubstr("node 'add' (Add): input 'bias' is not a graph input, an initializer or "
                        "any node's output (a missing initializer?)"));

  OnnxBuilder twice;
  twice.input("x", TensorProto::FLOAT, {2});
  twice.node("Relu", {"x"}, {"y"}, "r1");
  twice.node("Relu", {"x"}, {"y"}, "r2");
  twice.output("y", TensorProto::FLOAT, {2});
  EXPECT_THAT(twice.load_error(), HasSubstr("node 'r2' (Relu): output 'y' is already defined by "
                                            "node 'r1' (Relu)"));
  OnnxBuilder shadow;
  shadow.input("x", TensorProto::FLOAT, {2});
  shadow.node("Relu", {"x"}, {"x"}, "r");
  shadow.output("x", TensorProto::FLOAT, {2});
  EXPECT_THAT(shadow.load_error(), HasSubstr("output 'x' is also a graph input"));

  OnnxBuilder undefined;
  undefined.input("x", TensorProto::FLOAT, {2});
  undefined.node("Relu", {"x"}, {"y"}, "r");
  undefined.output("z", TensorProto::FLOAT, {2});
  EXPECT_THAT(undefined.load_error(), HasSubstr("graph output 'z' is not computed by any node"));

  OnnxBuilder sub;
  sub.input("x", TensorProto::FLOAT, {2});
  auto* n = sub.node("Relu", {"x"}, {"y"}, "r");
  auto* a = n->add_attribute();
  a->set_name("body");
  a->set_type(::onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name("inner");
  sub.output("y", TensorProto::FLOAT, {2});
  EXPECT_THAT(sub.load_error(), HasSubstr("attribute 'body' holds a subgraph: subgraphs (If, "
                                          "Loop, Scan) are not supported"));

  OnnxBuilder early(7);  // the oldest opset duet reads
  early.input("x", TensorProto::FLOAT, {2});
  early.node("Relu", {"x"}, {"y"}, "r");
  early.output("y", TensorProto::FLOAT, {2});
  EXPECT_EQ(early.load_error(), "");

  OnnxBuilder nodes = early;
  nodes.node("Relu", {"y"}, {"z"}, "r2");
  EXPECT_THAT(nodes.load_error({.max_nodes = 1}),
              HasSubstr("the graph has 2 nodes, more than the limit of 1"));
}

TEST(OnnxLoad, LimitsTheFileSize) {
  const std::string bytes = passthrough().bytes();
  EXPECT_THROW(
      duet::onnx::load_from_memory(bytes.data(), bytes.size(), "m.onnx", {.max_file_bytes = 4}),
      Error);
  const std::string path = temp_path("small.onnx");
  {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
  }
  try {
    duet::onnx::load(path, {.max_file_bytes = 4});
    ADD_FAILURE() << "the limit was not applied";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("more than the limit of 4 (LoadOptions::max_file_bytes)"));
  }
  EXPECT_EQ(duet::onnx::load(path)->inputs().size(), 1u);
  std::filesystem::remove(path);
}

TEST(OnnxLoad, ChecksTheFeeds) {
  OnnxBuilder b;
  b.input("x", TensorProto::FLOAT, {-1, 3});
  b.input("k", TensorProto::INT64, {2});
  b.output("x", TensorProto::FLOAT, {-1, 3});
  auto m = b.load();
  Tensor k = Tensor::from_vector<int64_t>({1, 2}, {2});
  EXPECT_EQ(m->forward_many({Tensor::zeros({5, 3}), k})[0].shape(), Shape({5, 3}));
  auto err = [&](const std::vector<Tensor>& in) -> std::string {
    try {
      m->forward_many(in);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(err({Tensor::zeros({5, 3})}), HasSubstr("onnx: test.onnx: the model has 2 inputs, "
                                                      "got 1"));
  EXPECT_THAT(err({Tensor::zeros({5, 4}), k}),
              HasSubstr("onnx: test.onnx: input 'x' has shape (5, 4), the model expects (N, 3)"));
  EXPECT_THAT(err({Tensor::zeros({3}), k}), HasSubstr("input 'x' has shape (3,)"));
  EXPECT_THAT(err({Tensor::zeros({5, 3}), Tensor::zeros({2})}),
              HasSubstr("input 'k' has dtype float32, the model expects int64"));
  try {
    m->run({{"x", Tensor::zeros({1, 3})}});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("Model::run: no feed for input 'k'"));
  }
  try {
    m->run({{"x", Tensor::zeros({1, 3})}, {"k", k}, {"extra", k}});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("feed 'extra' is not an input of the model"));
  }
}

TEST(OnnxLoad, InitializersListedAsInputsAreNotInputs) {
  OnnxBuilder b = passthrough();  // IR < 4 files list every initializer among the inputs too
  b.input("w", TensorProto::FLOAT, {2});
  b.init("w", Tensor::from_vector({4, 5}, {2}));
  b.output("w", TensorProto::FLOAT, {2});
  auto m = b.load();
  ASSERT_EQ(m->inputs().size(), 1u);
  EXPECT_EQ(m->initializers().at("w").to_vector<double>(), std::vector<double>({4, 5}));
  auto out = m->forward_many({Tensor::zeros({1, 3})});
  EXPECT_EQ(out[1].to_vector<double>(), std::vector<double>({4, 5}));
}

}  // namespace

// Every graph node shows the C++ source location of the model code that created it: op
// functions, Tensor methods and Module::operator() take the caller's std::source_location,
// and calls made inside duet's own sources keep the innermost model-code location.
#include <memory>
#include <sstream>
#include <string>

#include "duet/graph.h"
#include "duet/nn.h"
#include "duet/ops.h"
#include "test_util.h"

using namespace duet;

namespace {

// The "@ file:line" suffix of the first dump line whose node text contains `what`.
std::string loc_of(const std::string& dump, const std::string& what) {
  std::istringstream in(dump);
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find(" = ");
    if (eq == std::string::npos || line.find(what, eq) == std::string::npos) continue;
    const size_t at = line.find("  @ ");
    return at == std::string::npos ? "<none>" : line.substr(at + 4);
  }
  return "<no node " + what + ">";
}

std::string here(int line) {
  return "source_location_test.cpp:" + std::to_string(line);
}

// A user-defined module: its forward is model code, so its ops show its own lines.
int g_forward_relu_line = 0;
int g_forward_mul_line = 0;
struct Block : nn::Module {
  std::shared_ptr<nn::ReLU> act;
  Block() : Module("Block") { act = register_module("act", std::make_shared<nn::ReLU>()); }
  Tensor forward(const Tensor& x) override {
    g_forward_relu_line = __LINE__ + 1;
    Tensor h = relu(x);
    g_forward_mul_line = __LINE__ + 1;
    Tensor s = mul(h, 3.0);
    return s + 1.0;  // an operator: no location of its own, the enclosing module call's
  }
};

}  // namespace

TEST(SourceLocation, OpFunctionsAndTensorMethods) {
  Graph g;
  const int input_line = __LINE__ + 1;
  Tensor x = g.input("x", {2, 3});
  const int relu_line = __LINE__ + 1;
  Tensor y = relu(x);
  const int reshape_line = __LINE__ + 1;
  Tensor r = y.reshape({3, 2});
  const int sum_line = __LINE__ + 1;
  Tensor s = sum(r, {1}, /*keepdim=*/true);
  const int softmax_line = __LINE__ + 1;
  Tensor p = softmax(r, 1);
  const std::string dump = g.dump();
  EXPECT_EQ(loc_of(dump, "input \"x\""), here(input_line)) << dump;
  EXPECT_EQ(loc_of(dump, "relu("), here(relu_line)) << dump;
  EXPECT_EQ(loc_of(dump, "reshape("), here(reshape_line)) << dump;
  EXPECT_EQ(loc_of(dump, "sum("), here(sum_line)) << dump;
  EXPECT_EQ(loc_of(dump, "softmax("), here(softmax_line)) << dump;
  EXPECT_NE(g.to_dot().find("@ " + here(relu_line)), std::string::npos);
}

TEST(SourceLocation, LibraryModuleTakesTheCallSite) {
  Graph g;
  Tensor x = g.input("x", {4});
  nn::ReLU act;
  const int call_line = __LINE__ + 1;
  Tensor y = act(x);  // nn::ReLU's forward is library code: the call site wins
  const std::string dump = g.dump();
  EXPECT_EQ(loc_of(dump, "relu("), here(call_line)) << dump;
}

TEST(SourceLocation, UserModuleForwardLinesAndNestedLibraryModules) {
  auto block = std::make_shared<Block>();
  nn::Sequential seq({block});  // Sequential's forward is library code
  Graph g;
  Tensor x = g.input("x", {2, 2});
  const int seq_line = __LINE__ + 1;
  Tensor y = seq(x);
  const int act_line = __LINE__ + 1;
  Tensor z = (*block->act)(y);
  const std::string dump = g.dump();
  // The innermost model-code location: the lines inside Block::forward, not the call site.
  ASSERT_GT(g_forward_relu_line, 0);
  EXPECT_EQ(loc_of(dump, "relu("), here(g_forward_relu_line)) << dump;
  EXPECT_EQ(loc_of(dump, "mul_scalar("), here(g_forward_mul_line)) << dump;
  // Operators cannot take a defaulted location: they show the enclosing module call.
  EXPECT_EQ(loc_of(dump, "add_scalar("), here(seq_line)) << dump;
  // A library module called from the test file: the call line.
  const std::string last = dump.substr(dump.rfind("relu("));
  EXPECT_NE(last.find("@ " + here(act_line)), std::string::npos) << dump;
}

TEST(SourceLocation, GraphErrorsNameTheBuildLocation) {
  Graph g;
  const int input_line = __LINE__ + 1;
  Tensor x = g.input("x", {2, 3});
  Tensor y = relu(x);
  Executable exe = compile(g, {y});
  EXPECT_DUET_ERROR(exe.run({}), "input 'x'", here(input_line));
}

// onnx_export_zoo --ops OUT_DIR: one tiny ONNX model per sample of every op in the op table
// (OpDef::samples, float32; tests/op_samples.h makes the inputs), exported at opsets 13 and 17
// from a one-node eval graph, with its inputs and duet's eager outputs, for check_ops.py to run
// through ONNX Runtime. Ops without a mapping (export throws "has no ONNX mapping") are listed as such.
//   OUT_DIR/manifest.txt: "CASE exported N_IN N_OUT", "CASE unmapped REASON" or "CASE error
//   MESSAGE" (export failed otherwise) per line;
//   OUT_DIR/CASE.onnx, CASE.in<k>.pb, CASE.out<k>.pb (CASE: "<op>_s<k>_float32_o<opset>")
#include <cstdio>
#include <fstream>
#include <string>

#include "duet/onnx.h"
#include "op_samples.h"
#include "ops/op_samples.h"

namespace duet::test {
namespace {

using Ints = std::vector<int64_t>;

Attrs pool(int64_t k, int64_t s, int64_t p, bool ceil) {
  return Attrs()
      .set("kernel", std::vector<int64_t>{k, k})
      .set("stride", std::vector<int64_t>{s, s})
      .set("padding", std::vector<int64_t>{p, p})
      .set("ceil_mode", ceil);
}

// Edge cases beyond the op table's samples, where ONNX's definitions could part from
// PyTorch's (which duet follows): ceil_mode windows that would start in the padding (PyTorch
// drops them), average-pool divisors of windows that hang past the padded edge.
std::vector<OpCase> extra_cases() {
  auto one = [](OpId id, Shape shape, Attrs attrs, int index) {
    OpCase c{&op_def(id), {.inputs = {samples::normal(std::move(shape))}, .attrs = std::move(attrs)},
             index, float32, ""};
    c.name = c.op->name + "_s" + std::to_string(index) + "_float32";
    return c;
  };
  return {
      one(OpId::max_pool2d, {1, 2, 5, 5}, pool(2, 2, 1, true).set("dilation", Ints{1, 1}), 100),
      one(OpId::max_pool2d, {1, 2, 6, 6}, pool(3, 2, 1, true).set("dilation", Ints{1, 1}), 101),
      one(OpId::avg_pool2d, {1, 2, 5, 5}, pool(2, 2, 1, true).set("count_include_pad", true), 100),
      one(OpId::avg_pool2d, {1, 2, 6, 6}, pool(3, 2, 1, true).set("count_include_pad", true), 101),
      one(OpId::avg_pool2d, {1, 2, 6, 6}, pool(3, 2, 1, true).set("count_include_pad", false),
          102),
      one(OpId::avg_pool2d, {1, 2, 7, 7}, pool(2, 3, 0, true).set("count_include_pad", true), 103),
      one(OpId::avg_pool2d, {1, 2, 5, 5}, pool(2, 2, 1, true).set("count_include_pad", false),
          104),
      one(OpId::avg_pool2d, {1, 2, 9, 9}, pool(4, 3, 2, true).set("count_include_pad", true), 105),
      one(OpId::max_pool2d, {1, 2, 9, 9}, pool(4, 3, 2, true).set("dilation", Ints{1, 1}), 102),
      one(OpId::max_pool2d, {1, 2, 8, 8}, pool(2, 2, 1, true).set("dilation", Ints{2, 2}), 103),
      one(OpId::adaptive_avg_pool2d, {1, 3, 2, 2}, Attrs().set("output_size", Ints{7, 7}), 100),
      one(OpId::adaptive_avg_pool2d, {2, 3, 9, 5}, Attrs().set("output_size", Ints{4, 3}), 101),
  };
}

}  // namespace

int export_op_cases(const std::string& dir) {
  std::ofstream manifest(dir + "/manifest.txt");
  int exported = 0, unmapped = 0, skipped = 0;
  std::vector<OpCase> cases;
  for (const OpDef* op : all_ops())
    for (OpCase& c : op_cases(*op, {float32})) cases.push_back(std::move(c));
  for (OpCase& c : extra_cases()) cases.push_back(std::move(c));
  {
    for (const OpCase& c : cases) {
      const OpDef* op = c.op;
      const std::vector<Tensor> in = make_inputs(c);
      bool empty = false;
      for (const Tensor& t : in) empty = empty || t.numel() == 0;
      if (empty || c.skips(SampleCheck::no_graph) || op->has(OpTrait::mutates)) {
        ++skipped;  // empty tensors, ops a graph never records, in-place updates
        continue;
      }
      std::vector<Tensor> expected;
      try {
        expected = run_op(c, in);
      } catch (const Error&) {
        ++skipped;  // a sample that is an error case
        continue;
      }
      // max_pool2d's indices are duet's own (flat per plane): only the values are compared.
      const size_t n_out = op->id == OpId::max_pool2d ? 1 : static_cast<size_t>(op->num_outputs);
      expected.resize(n_out);
      Graph g;
      std::vector<Tensor> sym;
      for (size_t k = 0; k < in.size(); ++k)
        sym.push_back(g.input("x" + std::to_string(k), in[k].shape(), in[k].dtype()));
      std::vector<Tensor> out = call_op(*op, sym, c.sample.attrs);
      out.resize(n_out);
      g.end_build();
      // Each case at the lowest and the highest opset written (forms differ: HardSwish, ...).
      for (int64_t opset : {int64_t{13}, int64_t{17}}) {
        const std::string name = c.name + "_o" + std::to_string(opset);
        try {
          onnx::export_model(g, out, dir + "/" + name + ".onnx", {.opset = opset});
        } catch (const Error& e) {
          const std::string what = e.what();
          const auto at = what.find("has no ONNX mapping: ");
          if (at == std::string::npos) {
            manifest << name << " error " << what << "\n";  // check_ops.py fails it
          } else {
            manifest << name << " unmapped " << what.substr(at + 21) << "\n";
            ++unmapped;
          }
          continue;
        }
        for (size_t k = 0; k < in.size(); ++k)
          onnx::save_tensor(in[k], dir + "/" + name + ".in" + std::to_string(k) + ".pb");
        for (size_t k = 0; k < expected.size(); ++k)
          onnx::save_tensor(expected[k].contiguous(),
                            dir + "/" + name + ".out" + std::to_string(k) + ".pb");
        manifest << name << " exported " << in.size() << " " << expected.size() << "\n";
        ++exported;
      }
    }
  }
  std::printf("onnx_export_zoo --ops: %d cases exported, %d unmapped, %d skipped\n", exported,
              unmapped, skipped);
  return 0;
}

}  // namespace duet::test

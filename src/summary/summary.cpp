// duet::summary: trace the model once as a graph, attribute the recorded nodes to the module
// calls that were running (nn/module_hooks.h), and print the table.
#include "duet/summary.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "duet/autograd.h"
#include "duet/graph.h"
#include "duet/memory.h"
#include "graph/ir.h"
#include "nn/module_hooks.h"

namespace duet {
namespace {

// One module call: the nodes recorded while it ran are [node_begin, node_end).
struct Call {
  nn::Module* module = nullptr;
  std::string name, type;
  int depth = 0;
  size_t node_begin = 0, node_end = 0;
  std::vector<TensorMeta> outputs;
  bool leaf = true;
};

class Recorder : public nn::internal::ModuleCallObserver {
 public:
  explicit Recorder(const detail::GraphData& g) : g_(g) {}
  void begin(nn::Module& m) override {
    const auto& stack = nn::module_call_stack();
    Call c;
    c.module = &m;
    c.name = nn::module_call_path();
    c.type = m.type_name();
    c.depth = static_cast<int>(stack.size()) - 1;
    c.node_begin = g_.nodes.size();
    c.leaf = m.named_children().empty();
    open_.push_back(calls.size());
    calls.push_back(std::move(c));
  }
  void end(nn::Module&, const std::vector<Tensor>& outputs) override {
    Call& c = calls[open_.back()];
    open_.pop_back();
    c.node_end = g_.nodes.size();
    for (const Tensor& t : outputs)
      if (t.defined()) c.outputs.push_back({t.shape(), t.dtype(), t.device()});
  }
  std::vector<Call> calls;

 private:
  const detail::GraphData& g_;
  std::vector<size_t> open_;
};

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return (v < 0 ? "-" : "") + s;
}

// 1814083944 -> "1.81 G"; below 1000 as is.
std::string si(int64_t v) {
  static const char* kUnits[] = {"", " K", " M", " G", " T", " P"};
  double d = static_cast<double>(v);
  int u = 0;
  while (u < 5 && d >= 999.5) {
    d /= 1000;
    ++u;
  }
  if (u == 0) return std::to_string(v);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f%s", d < 9.995 ? 2 : (d < 99.95 ? 1 : 0), d, kUnits[u]);
  return buf;
}

int64_t meta_bytes(const TensorMeta& m) {
  return checked_nbytes(m.shape, dtype_size(m.dtype), "summary");
}

// The device the model's tensors live on (cpu when it has none).
Device model_device(nn::Module& model) {
  for (const Tensor& p : model.parameters()) return p.device();
  for (const Tensor& b : model.buffers()) return b.device();
  return cpu;
}

}  // namespace

Summary summary(nn::Module& model, const Shape& input_shape, const SummaryOptions& options) {
  return summary(model, std::vector<Shape>{input_shape}, options);
}

Summary summary(nn::Module& model, const std::vector<Shape>& input_shapes,
                const SummaryOptions& options) {
  DUET_CHECK(!input_shapes.empty(), "summary: no input shapes (expected at least one)");
  DUET_CHECK(options.depth >= 0, "summary: depth = ", options.depth, " (expected >= 0)");
  for (const Shape& s : input_shapes) checked_numel(s, "summary: input shape");
  const Device device = model_device(model);
  Summary out;

  // ---- trace: symbolic inputs, eval mode, every module call observed ----
  Graph graph({.training = false});
  Recorder rec(*graph.data());
  {
    nn::internal::ObserverScope observe(&rec);
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < input_shapes.size(); ++i) {
      inputs.push_back(
          graph.input("x" + std::to_string(i), input_shapes[i], options.dtype, device));
      out.input_bytes += checked_nbytes(input_shapes[i], dtype_size(options.dtype), "summary");
    }
    if (inputs.size() == 1)
      model(inputs[0]);
    else
      model(inputs);
  }
  graph.end_build();
  const detail::GraphData& g = *graph.data();

  // Multiply-adds per node, as prefix sums.
  std::vector<int64_t> prefix(g.nodes.size() + 1, 0);
  std::vector<TensorMeta> in;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const detail::Node& node = g.nodes[i];
    int64_t macs = 0;
    if (node.kind == detail::NodeKind::op && !node.dead && node.op->macs) {
      in.clear();
      for (const detail::ValueRef& r : node.inputs) in.push_back(g.meta(r));
      macs = node.op->macs(in, node.outputs, node.attrs);
    }
    prefix[i + 1] = prefix[i] + macs;
  }
  out.total_multiply_adds = prefix.back();

  // ---- rows ----
  std::set<const nn::Module*> seen;
  for (const Call& c : rec.calls) {
    const bool repeated = !seen.insert(c.module).second;
    if (c.leaf)
      for (const TensorMeta& m : c.outputs) out.forward_activation_bytes += meta_bytes(m);
    if (c.depth > options.depth) continue;
    SummaryRow r;
    r.name = c.name;
    r.type = c.type;
    r.depth = c.depth;
    if (!c.outputs.empty()) r.output_shape = c.outputs[0].shape;
    r.num_outputs = static_cast<int64_t>(c.outputs.size());
    for (const Tensor& p : c.module->parameters()) {
      r.params += p.numel();
      if (p.requires_grad()) r.trainable_params += p.numel();
    }
    r.multiply_adds = prefix[c.node_end] - prefix[c.node_begin];
    r.repeated = repeated;
    out.rows.push_back(std::move(r));
  }
  out.backward_activation_bytes = out.forward_activation_bytes;
  for (const Tensor& p : model.parameters()) {
    out.total_params += p.numel();
    (p.requires_grad() ? out.trainable_params : out.non_trainable_params) += p.numel();
    out.params_bytes += p.numel() * static_cast<int64_t>(dtype_size(p.dtype()));
  }
  for (const Tensor& b : model.buffers())
    out.buffers_bytes += b.numel() * static_cast<int64_t>(dtype_size(b.dtype()));
  return out;
}

std::string Summary::str() const {
  struct Line {
    std::string name, shape, params, macs, train;
  };
  std::vector<Line> lines;
  for (const SummaryRow& r : rows) {
    Line l;
    l.name = std::string(static_cast<size_t>(r.depth) * 2, ' ') +
             (r.name.empty() ? r.type : r.name + " (" + r.type + ")");
    l.shape = shape_str(r.output_shape) +
              (r.num_outputs > 1 ? " +" + std::to_string(r.num_outputs - 1) : "");
    l.params = r.repeated ? "(repeated)" : (r.params ? with_commas(r.params) : "--");
    l.macs = r.multiply_adds ? with_commas(r.multiply_adds) : "--";
    l.train = r.params == 0 ? "--"
                            : (r.trainable_params == r.params
                                   ? "True"
                                   : (r.trainable_params == 0 ? "False" : "Partial"));
    lines.push_back(std::move(l));
  }
  Line head{"Layer (type)", "Output Shape", "Param #", "Mult-Adds", "Trainable"};
  size_t w[5] = {head.name.size(), head.shape.size(), head.params.size(), head.macs.size(),
                 head.train.size()};
  for (const Line& l : lines) {
    w[0] = std::max(w[0], l.name.size());
    w[1] = std::max(w[1], l.shape.size());
    w[2] = std::max(w[2], l.params.size());
    w[3] = std::max(w[3], l.macs.size());
  }
  const size_t width = w[0] + w[1] + w[2] + w[3] + w[4] + 8;
  std::ostringstream os;
  auto row = [&](const Line& l) {
    os << l.name << std::string(w[0] - l.name.size() + 2, ' ') << l.shape
       << std::string(w[1] - l.shape.size() + 2, ' ') << std::string(w[2] - l.params.size(), ' ')
       << l.params << "  " << std::string(w[3] - l.macs.size(), ' ') << l.macs << "  " << l.train
       << "\n";
  };
  const std::string rule(width, '=');
  os << rule << "\n";
  row(head);
  os << rule << "\n";
  for (const Line& l : lines) row(l);
  os << rule << "\n";
  os << "Total params: " << with_commas(total_params) << "\n"
     << "Trainable params: " << with_commas(trainable_params) << "\n"
     << "Non-trainable params: " << with_commas(non_trainable_params) << "\n"
     << "Total mult-adds: " << si(total_multiply_adds) << "\n"
     << std::string(width, '-') << "\n"
     << "Input size: " << format_bytes(input_bytes) << "\n"
     << "Forward/backward pass size: " << format_bytes(forward_activation_bytes) << " + "
     << format_bytes(backward_activation_bytes) << "\n"
     << "Params size: " << format_bytes(params_bytes) << "\n"
     << "Buffers size: " << format_bytes(buffers_bytes) << "\n"
     << "Estimated total size: " << format_bytes(total_bytes()) << "\n"
     << rule << "\n";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Summary& s) {
  return os << s.str();
}

}  // namespace duet

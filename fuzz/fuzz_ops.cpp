// libFuzzer target: the op fuzzer. Decodes its input into one call of one op of the op table
// (src/ops/op_list.h) on hostile shapes, dtypes, layouts and attributes, run eagerly or as a
// compiled graph; accepts a result or a duet::Error, nothing else.
//
// Input layout (every byte is taken modulo what it selects, so any input decodes):
//   byte 0   the op: all_ops()[b % kNumOps]
//   byte 1   which of the op's declared samples (OpDef::samples) starts the call
//   byte 2   flags: bit 0 graph mode; bits 1 and 6 the floating inputs' dtype (neither:
//            float32; bit 1: float64; bit 6: bfloat16; both: float16); bit 2 eager: inputs
//            require grad and the outputs are backpropagated / graph: inputs captured instead
//            of fed; bit 3 input values from the data bytes; bit 4 graph: bit_exact compile;
//            bit 5 graph: neg and exp of every floating output requested too (values live
//            at once)
//   byte 3   the number of edits (b % 16) that follow, 3 bytes each (Edit below)
//   rest     the data bytes: input values when bit 3 is set
// Dims come from {0, 1, 2, 3, 4, 5, 7, 2^20, 2^29, 2^31, 2^40, 2^62, INT64_MAX, -1, INT64_MIN};
// integer attributes from {0, -1, 1, 2, huge, INT64_MAX, INT64_MIN, ...}; floats include NaN
// and infinities. duet::set_memory_limit(cpu, 256 MB) turns huge valid shapes into errors.
//
//   scripts/fuzz.sh fuzz_ops 60
//   DUET_FUZZ_OPS_STATS=stats.txt build-fuzz/fuzz/fuzz_ops corpus -runs=100000  # hit table
//   DUET_FUZZ_MAKE_SEEDS=fuzz/corpus/fuzz_ops build-fuzz/fuzz/fuzz_ops -runs=1   # seeds
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "duet/autograd.h"
#include "duet/graph.h"
#include "duet/memory.h"
#include "duet/ops.h"
#include "duet/random.h"
#include "duet/threads.h"
#include "fuzz_util.h"
#include "ops/op_def.h"

namespace {

using duet::Attrs;
using duet::AttrValue;
using duet::DType;
using duet::OpDef;
using duet::Shape;
using duet::Tensor;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int kMaxRank = 5;
constexpr int64_t kMaxValues = 1 << 16;  // inputs with more elements are not filled

const int64_t kDims[] = {0, 1, 2, 3, 4, 5, 7, int64_t{1} << 31, int64_t{1} << 40,
                         int64_t{1} << 62, kMax, -1, kMin, (int64_t{1} << 62) + 48,
                         int64_t{1} << 20, int64_t{1} << 29};
const int64_t kInts[] = {0, -1, 1, 2, 3, 7, -2, int64_t{1} << 31, (int64_t{1} << 31) - 1,
                         int64_t{1} << 40, int64_t{1} << 62, kMax, kMin, -(int64_t{1} << 62), 4,
                         5};
const double kInf = std::numeric_limits<double>::infinity();
const double kDoubles[] = {0.0,   -0.0,  1.0,    -1.0,   0.5,   std::nan(""), kInf, -kInf,
                           1e308, -1e308, 1e-308, 2.0, 4.9e-324, 1e10, 0.9, 255.0};
const DType kDTypes[] = {duet::float32, duet::float64, duet::int64,
                         duet::bool_,   duet::float16, duet::bfloat16};
const char* const kStrings[] = {"", "cpu", "cuda", "cuda:7", "sum", "mean", "none", "relu",
                                "\xff\xfe", "nan"};

enum Mode { kEager = 0, kGraph = 1, kNumModes = 2 };
const char* const kModeNames[] = {"eager", "graph"};

// Hit counts per (op, mode): calls made, and calls that returned a result.
struct Stats {
  std::array<std::array<uint64_t, kNumModes>, duet::kNumOps> calls{}, results{};
};
Stats& stats() {
  static Stats s;
  return s;
}

// Adds this process's counts to the file's (libFuzzer -fork=N and restarted campaigns run
// many processes one after another).
void write_stats() {
  const char* path = std::getenv("DUET_FUZZ_OPS_STATS");
  if (!path) return;
  {
    std::ifstream in(path);
    std::string name, header;
    std::getline(in, header);
    for (int i = 0; i < duet::kNumOps && (in >> name); ++i)
      for (int m = 0; m < kNumModes; ++m) {
        uint64_t c = 0, r = 0;
        in >> c >> r;
        stats().calls[i][m] += c;
        stats().results[i][m] += r;
      }
  }
  std::ofstream f(path);
  f << "op eager_calls eager_results graph_calls graph_results\n";
  for (int i = 0; i < duet::kNumOps; ++i) {
    f << duet::all_ops()[i]->name;
    for (int m = 0; m < kNumModes; ++m) f << " " << stats().calls[i][m] << " " << stats().results[i][m];
    f << "\n";
  }
}

class Bytes {
 public:
  Bytes(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint8_t next() { return i_ < n_ ? p_[i_++] : 0; }
  const uint8_t* rest() const { return p_ + std::min(i_, n_); }
  size_t rest_size() const { return n_ - std::min(i_, n_); }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t i_ = 0;
};

// One input before it becomes a tensor.
struct InputSpec {
  duet::SampleInput sample;
  DType dtype = duet::float32;
  int layout = 0;  // 0 contiguous, 1 broadcast (stride 0), 2 transposed, 3 strided slice
};

// Element count, or nullopt when a dim is negative or the product overflows.
std::optional<int64_t> checked_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > kMax / d) return std::nullopt;
    n *= d;
  }
  for (int64_t d : s)
    if (d == 0) return 0;
  return n;
}

std::vector<double> values_for(const InputSpec& in, int64_t n, uint64_t seed, const uint8_t* data,
                               size_t data_size) {
  std::vector<double> v(static_cast<size_t>(n));
  duet::Generator gen(seed);
  for (size_t i = 0; i < v.size(); ++i) {
    if (data_size) {
      const uint8_t b = data[(seed + i) % data_size];
      if (in.dtype == duet::bool_) v[i] = b & 1;
      else if (in.dtype == duet::int64) v[i] = static_cast<int8_t>(b);
      else if (b >= 0xFC) v[i] = kDoubles[5 + (b & 3)];  // NaN, inf, -inf, 1e308
      else v[i] = static_cast<int8_t>(b) / 8.0;
      continue;
    }
    const duet::SampleInput& s = in.sample;
    switch (s.init) {
      case duet::SampleInit::normal: v[i] = gen.normal(); break;
      case duet::SampleInit::positive: v[i] = 0.5 + 1.5 * gen.uniform(); break;
      case duet::SampleInit::uniform: v[i] = s.lo + (s.hi - s.lo) * gen.uniform(); break;
      case duet::SampleInit::index: v[i] = std::floor(s.hi * gen.uniform()); break;
      case duet::SampleInit::integers:
        v[i] = std::floor(s.lo + (s.hi - s.lo) * gen.uniform());
        break;
      case duet::SampleInit::boolean: v[i] = gen.uniform() < 0.5 ? 1 : 0; break;
      case duet::SampleInit::ones: v[i] = 1; break;
    }
  }
  return v;
}

// The concrete tensor for one input (may throw duet::Error for shapes duet must refuse).
Tensor make_tensor(const InputSpec& in, uint64_t seed, const uint8_t* data, size_t data_size) {
  const Shape& shape = in.sample.shape;
  const std::optional<int64_t> n = checked_numel(shape);
  if (!n || *n > kMaxValues) {
    // Huge or invalid: duet must refuse it (overflow, negative dim) or the memory limit must.
    return Tensor::empty(shape, in.dtype);
  }
  switch (in.layout) {
    case 1: {  // every element one value: a broadcast view of a 1-element tensor
      Shape ones(shape.size(), 1);
      return Tensor::from_vector(values_for(in, 1, seed, data, data_size), ones, in.dtype)
          .expand(shape);
    }
    case 2: {  // the transpose of a contiguous tensor of the reversed shape
      if (shape.size() < 2) break;
      Shape rev(shape.rbegin(), shape.rend());
      std::vector<int64_t> axes;
      for (int64_t a = static_cast<int64_t>(shape.size()) - 1; a >= 0; --a) axes.push_back(a);
      return Tensor::from_vector(values_for(in, *n, seed, data, data_size), rev, in.dtype)
          .permute(axes);
    }
    case 3: {  // every other element along axis 0 of a tensor twice as long
      if (shape.empty() || 2 * *n > kMaxValues) break;
      Shape twice = shape;
      twice[0] *= 2;
      return Tensor::from_vector(values_for(in, 2 * *n, seed, data, data_size), twice, in.dtype)
          .slice(0, 0, twice[0], 2);
    }
    default: break;
  }
  return Tensor::from_vector(values_for(in, *n, seed, data, data_size), shape, in.dtype);
}

// Every attribute name any op's samples use (edits may add one an op does not expect).
const std::vector<std::string>& attr_names() {
  static const std::vector<std::string> names = [] {
    std::set<std::string> s;
    for (const OpDef* op : duet::all_ops())
      if (op->samples)
        for (const duet::OpSample& sample : op->samples())
          for (const auto& [k, v] : sample.attrs.items()) s.insert(k);
    return std::vector<std::string>(s.begin(), s.end());
  }();
  return names;
}

Attrs without(const Attrs& a, size_t index) {
  Attrs r;
  for (size_t i = 0; i < a.items().size(); ++i)
    if (i != index) r.set(a.items()[i].first, a.items()[i].second);
  return r;
}

AttrValue mutated(const AttrValue& v, uint8_t b, uint8_t c) {
  if (std::holds_alternative<int64_t>(v)) return kInts[b % 16];
  if (std::holds_alternative<double>(v)) return kDoubles[b % 16];
  if (std::holds_alternative<bool>(v)) return !std::get<bool>(v);
  if (std::holds_alternative<std::string>(v)) {
    if (b % 11 == 10) return std::string(3000, 'x');
    return std::string(kStrings[b % 10]);
  }
  std::vector<int64_t> list = std::get<std::vector<int64_t>>(v);
  switch (b % 4) {
    case 0:
      if (!list.empty()) list[c % list.size()] = kInts[(b >> 2) % 16];
      break;
    case 1: list.push_back(kInts[c % 16]); break;
    case 2:
      if (!list.empty()) list.pop_back();
      break;
    default:
      if (c & 1) list.clear();
      else list.assign(c % 9, kInts[(b >> 2) % 16]);  // up to 8 equal entries
  }
  return list;
}

// An edit: 3 bytes (what, which, how).
void apply_edit(uint8_t what, uint8_t which, uint8_t how, std::vector<InputSpec>& inputs,
                Attrs& attrs) {
  const size_t k = inputs.empty() ? 0 : which % inputs.size();
  switch (what % 8) {
    case 0:  // one dim of one input
      if (!inputs.empty()) {
        Shape& s = inputs[k].sample.shape;
        if (s.empty()) s.push_back(kDims[how % 16]);
        else s[(how >> 4) % s.size()] = kDims[how % 16];
      }
      break;
    case 1:  // rank of one input (new dims are 1)
      if (!inputs.empty()) inputs[k].sample.shape.resize(how % (kMaxRank + 1), 1);
      break;
    case 2:  // dtype of one input
      if (!inputs.empty()) inputs[k].dtype = kDTypes[how % std::size(kDTypes)];
      break;
    case 3:  // the value of one attribute
      if (!attrs.items().empty()) {
        const auto& [name, value] = attrs.items()[which % attrs.items().size()];
        const std::string n = name;
        attrs.set(n, mutated(value, how, which));
      }
      break;
    case 4:  // drop an attribute
      if (!attrs.items().empty()) attrs = without(attrs, which % attrs.items().size());
      break;
    case 5:  // one input more (a copy) or one fewer
      if (how & 1) {
        if (!inputs.empty()) inputs.push_back(inputs[k]);
        else inputs.push_back({duet::SampleInput{{2}}, duet::float32, 0});
      } else if (!inputs.empty()) {
        inputs.erase(inputs.begin() + static_cast<std::ptrdiff_t>(k));
      }
      break;
    case 6:  // layout of one input
      if (!inputs.empty()) inputs[k].layout = how % 4;
      break;
    default: {  // an attribute this sample does not set (maybe one the op never reads)
      const auto& names = attr_names();
      if (names.empty()) break;
      const std::string& name = names[which % names.size()];
      static const AttrValue kinds[] = {int64_t{0}, 0.0, std::vector<int64_t>{1, 1}, false};
      attrs.set(name, mutated(kinds[how >> 6], how, which));
    }
  }
}

// Reads every element of every defined output (ASan sees reads past the buffer) and checks
// the basic invariants.
void check_outputs(const OpDef& op, const std::vector<Tensor>& outs) {
  for (const Tensor& t : outs) {
    if (!t.defined()) continue;
    DUET_FUZZ_EXPECT(t.numel() == duet::numel(t.shape()), op.name.c_str(),
                     "numel disagrees with shape " + duet::shape_str(t.shape()));
    if (t.is_symbolic()) continue;
    double sum = 0;
    for (double v : t.contiguous().to_vector<double>()) sum += v;
    (void)sum;
  }
}

void run_eager(const OpDef& op, const std::vector<Tensor>& in, const Attrs& attrs, bool grad) {
  std::vector<Tensor> inputs = in;
  if (!grad) {
    duet::NoGradGuard no_grad;
    check_outputs(op, duet::call_op(op, inputs, attrs));
    return;
  }
  for (Tensor& t : inputs)
    if (t.defined() && duet::is_floating(t.dtype()) && t.is_leaf()) t.requires_grad_();
  const std::vector<Tensor> outs = duet::call_op(op, inputs, attrs);
  check_outputs(op, outs);
  Tensor total;
  for (const Tensor& o : outs) {
    if (!o.defined() || !o.requires_grad()) continue;
    const Tensor s = duet::sum(o);
    total = total.defined() ? duet::add(total, s) : s;
  }
  if (total.defined()) total.backward();
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad() && t.grad().defined())
      check_outputs(op, {t.grad()});
}

// Inputs the graph reads in place (written ones, or all with capture_all) are made before
// the graph; fed ones are symbolic while it is built and compiled (so huge shapes reach
// inference and the memory planner) and made only to run it.
void run_graph(const OpDef& op, const std::vector<InputSpec>& specs,
               const std::function<Tensor(size_t)>& make, const Attrs& attrs, bool capture_all,
               bool bit_exact, bool consumers) {
  std::vector<Tensor> captured(specs.size());
  for (size_t k = 0; k < specs.size(); ++k)
    if (capture_all || ((op.mutates_inputs >> k) & 1u)) captured[k] = make(k);
  std::vector<std::string> fed;
  duet::Executable exe;
  bool dummy = false;
  {
    duet::Graph g;
    std::vector<Tensor> values;
    for (size_t k = 0; k < specs.size(); ++k) {
      if (captured[k].defined()) {
        values.push_back(captured[k]);
        continue;
      }
      fed.emplace_back("x");  // (not "x" + to_string: GCC 12 warns -Wrestrict falsely)
      fed.back() += std::to_string(k);
      values.push_back(g.input(fed.back(), specs[k].sample.shape, specs[k].dtype));
    }
    std::vector<Tensor> outs = duet::call_op(op, values, attrs);
    if (consumers) {  // more values live at once: the planner adds their sizes
      const size_t n = outs.size();
      for (size_t j = 0; j < n; ++j)
        if (outs[j].defined() && duet::is_floating(outs[j].dtype())) {
          outs.push_back(duet::neg(outs[j]));
          outs.push_back(duet::exp(outs[j]));
        }
    }
    if (outs.empty() || fed.empty()) {  // compile needs an output, run a fed input
      outs.push_back(duet::neg(g.input("dummy", {1})));
      dummy = true;
    }
    duet::CompileOptions options;
    options.bit_exact = bit_exact;
    exe = duet::compile(g, outs, options);
  }
  std::map<std::string, Tensor> feeds;
  for (size_t k = 0, j = 0; k < specs.size(); ++k)
    if (!captured[k].defined()) feeds[fed[j++]] = make(k);
  if (dummy) feeds["dummy"] = Tensor::zeros({1});
  duet::manual_seed(99);
  const std::vector<Tensor> r = exe.run(feeds);
  check_outputs(op, r);
  for (size_t k = 0; k < specs.size(); ++k)
    if ((op.mutates_inputs >> k) & 1u) check_outputs(op, {captured[k]});
}

void make_seeds(const char* dir) {
  std::filesystem::create_directories(dir);
  int n = 0;
  for (int i = 0; i < duet::kNumOps; ++i) {
    const OpDef& op = *duet::all_ops()[i];
    const size_t samples = op.samples ? op.samples().size() : 1;
    for (size_t s = 0; s < samples; ++s)
      for (int mode = 0; mode < kNumModes; ++mode) {
        const uint8_t bytes[4] = {static_cast<uint8_t>(i), static_cast<uint8_t>(s),
                                  static_cast<uint8_t>(mode), 0};
        const std::string path = std::string(dir) + "/" + op.name + "_s" + std::to_string(s) +
                                 "_" + kModeNames[mode];
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes), 4);
        ++n;
      }
  }
  std::fprintf(stderr, "fuzz_ops: wrote %d seeds to %s\n", n, dir);
}

}  // namespace

extern "C" int DUET_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  [[maybe_unused]] static const bool init = [] {
    duet::set_num_threads(1);
    duet::set_memory_limit(duet::cpu, 256 << 20);
    if (const char* dir = std::getenv("DUET_FUZZ_MAKE_SEEDS")) {
      make_seeds(dir);
      std::exit(0);
    }
    std::atexit(write_stats);
    return true;
  }();
  if (size < 3) return 0;
  Bytes b(data, size);
  const int op_index = b.next() % duet::kNumOps;
  const OpDef& op = *duet::all_ops()[op_index];
  const std::vector<duet::OpSample> samples = op.samples ? op.samples() : std::vector<duet::OpSample>{};
  const uint8_t sample_byte = b.next(), flags = b.next();
  const Mode mode = (flags & 1) ? kGraph : kEager;
  const DType floating = (flags & 2) ? ((flags & 64) ? duet::float16 : duet::float64)
                                     : ((flags & 64) ? duet::bfloat16 : duet::float32);
  const bool grad_or_capture = flags & 4, data_values = flags & 8, bit_exact = flags & 16,
             consumers = flags & 32;

  std::vector<InputSpec> inputs;
  Attrs attrs;
  if (!samples.empty()) {
    const duet::OpSample& s = samples[sample_byte % samples.size()];
    for (const duet::SampleInput& in : s.inputs)
      inputs.push_back({in, in.fixed ? in.dtype : floating, 0});
    attrs = s.attrs;
  }
  const int edits = b.next() % 16;
  for (int e = 0; e < edits; ++e) {
    const uint8_t what = b.next(), which = b.next(), how = b.next();
    apply_edit(what, which, how, inputs, attrs);
  }
  const uint8_t* values = data_values ? b.rest() : nullptr;
  const size_t values_size = data_values ? b.rest_size() : 0;

  ++stats().calls[op_index][mode];
  const bool ok = duet::fuzz::expect_result_or_error(op.name.c_str(), [&] {
    const std::function<Tensor(size_t)> make = [&](size_t k) {
      return make_tensor(inputs[k], 1000 * (sample_byte % 8) + k, values, values_size);
    };
    if (mode == kGraph)
      return run_graph(op, inputs, make, attrs, grad_or_capture, bit_exact, consumers);
    std::vector<Tensor> in;
    for (size_t k = 0; k < inputs.size(); ++k) in.push_back(make(k));
    run_eager(op, in, attrs, grad_or_capture);
  });
  if (ok) ++stats().results[op_index][mode];
  // The caching allocator keeps every freed block for reuse: over a campaign, inputs of ever new
  // sizes (each within the 256 MB limit) would grow it past libFuzzer's RSS limit (as in
  // fuzz_onnx.cpp).
  duet::empty_cache(duet::cpu);
  return 0;
}

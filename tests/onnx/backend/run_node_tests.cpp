// ONNX's backend node tests against duet's importer: every case directory
// (<data>/test_*/model.onnx + test_data_set_*/{input,output}_*.pb, Debian's libonnx-testdata)
// is loaded with duet::onnx::load, run eagerly (forward_many) and compiled (Model::compile at
// the inputs' shapes), and every output compared with ONNX's expected one like ONNX's backend
// test runner does: rtol 1e-3, atol 1e-7 (|got - want| <= atol + rtol |want|), NaNs equal,
// dtypes and shapes equal (ONNX INT32 reads as int64 on both sides, duet has no int32).
//
//   run_node_tests [--data DIR]... [--filter SUBSTR]... [--report FILE]
//                  [--expected-failures FILE] [--assert] [--quiet] [--bind-int-inputs]
//
// A case is "unsupported" when load or run throws duet::Error with "not supported" in its
// message (the importer's phrase for an operator, attribute, opset or dtype it does not read),
// "failed" on any other error or a mismatch, "passed" otherwise. The report counts cases per
// operator: a case counts for every op_type its model uses (an `_expanded` case, ONNX's
// function body of an operator, counts for the operators of that body, not for the function).
// With --assert the exit status is 1 when a failed case uses an operator duet imports
// (supported_operators()) and is not listed in --expected-failures ("test_name  reason"
// lines); 77 when no data directory exists (ctest: skipped).
// --bind-int-inputs: an unsupported case with INT64/INT32 graph inputs (ONNX's tests feed
// shapes, axes, pads and indices as inputs; duet compiles static graphs and needs them constant)
// runs again with those inputs made initializers holding the data set's values; that run's
// failures are asserted too, and the report counts its outcome in the "bound" columns.
// The case name is printed before it runs, so a crash names its case.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "duet/error.h"
#include "duet/graph.h"
#include "duet/onnx.h"
#include "duet/tensor.h"
#include "onnx/proto.h"

namespace fs = std::filesystem;

namespace {

struct Options {
  std::vector<std::string> data_dirs;
  std::vector<std::string> filters;
  std::string report;
  std::string expected_failures;
  bool assert_supported = false;
  bool quiet = false;
  bool bind_int_inputs = false;
};

enum class Status { passed, failed, unsupported };

const char* status_name(Status s) {
  switch (s) {
    case Status::passed:
      return "passed";
    case Status::failed:
      return "FAILED";
    case Status::unsupported:
      return "unsupported";
  }
  return "?";
}

struct CaseResult {
  std::string name;
  std::string suite;             // the data directory's name: node, pytorch-operator, ...
  std::vector<std::string> ops;  // op_types used (domain-qualified outside ai.onnx)
  Status status = Status::passed;
  std::string detail;  // the first line of the error or the mismatch
  // Unsupported cases with integer graph inputs run again with those inputs bound as
  // initializers (--bind-int-inputs): bound_status is that run's outcome.
  bool bound = false;
  Status bound_status = Status::passed;
  std::string bound_detail;
  // The operator the error names ("node 'x' (Op): ...", "operator 'Op' is not supported"), ""
  // when it names none (a dtype, the opset, a sequence input ...).
  std::string blamed_op;
  double ms = 0;
};

std::string blamed_op(const CaseResult& r) {
  for (const auto& op : r.ops)
    if (r.detail.find("(" + op + ")") != std::string::npos ||
        r.detail.find("operator '" + op + "'") != std::string::npos)
      return op;
  return "";
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string first_line(const std::string& s, size_t max_len = 200) {
  std::string line = s.substr(0, s.find('\n'));
  if (line.size() > max_len) line = line.substr(0, max_len) + "...";
  return line;
}

void collect_ops(const ::onnx::GraphProto& g, std::set<std::string>& ops) {
  for (const auto& node : g.node()) {
    const std::string& domain = node.domain();
    ops.insert(domain.empty() || domain == "ai.onnx" ? node.op_type()
                                                     : domain + "." + node.op_type());
    for (const auto& attr : node.attribute()) {
      if (attr.has_g()) collect_ops(attr.g(), ops);
      for (const auto& sub : attr.graphs()) collect_ops(sub, ops);
    }
  }
}

// "input_3.pb" -> 3; -1 for other names.
int pb_index(const std::string& file, const std::string& prefix) {
  if (file.rfind(prefix, 0) != 0 || file.size() < prefix.size() + 4 ||
      file.substr(file.size() - 3) != ".pb")
    return -1;
  std::string digits = file.substr(prefix.size(), file.size() - prefix.size() - 3);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoi(digits);
}

std::vector<fs::path> pb_files(const fs::path& dir, const std::string& prefix) {
  std::map<int, fs::path> by_index;
  for (const auto& e : fs::directory_iterator(dir)) {
    int i = pb_index(e.path().filename().string(), prefix);
    if (i >= 0) by_index[i] = e.path();
  }
  std::vector<fs::path> out;
  for (auto& [i, p] : by_index) out.push_back(p);
  return out;
}

// "" when `got` matches `want` (ONNX backend defaults), else what differs.
std::string compare(const duet::Tensor& got_in, const duet::Tensor& want, size_t index) {
  std::ostringstream os;
  os << "output " << index << ": ";
  if (!got_in.defined()) return os.str() + "undefined tensor";
  duet::Tensor got = got_in.is_symbolic() ? got_in : got_in.contiguous();
  if (got.dtype() != want.dtype()) {
    os << "dtype " << duet::dtype_name(got.dtype()) << ", expected "
       << duet::dtype_name(want.dtype());
    return os.str();
  }
  if (got.shape() != want.shape()) {
    os << "shape " << duet::shape_str(got.shape()) << ", expected "
       << duet::shape_str(want.shape());
    return os.str();
  }
  if (got.numel() == 0) return "";
  if (!duet::is_floating(want.dtype())) {
    auto g = got.to(duet::int64).contiguous().to_vector<int64_t>();
    auto w = want.to(duet::int64).contiguous().to_vector<int64_t>();
    for (size_t i = 0; i < w.size(); ++i) {
      if (g[i] != w[i]) {
        os << "element " << i << " is " << g[i] << ", expected " << w[i];
        return os.str();
      }
    }
    return "";
  }
  auto g = got.to(duet::float64).contiguous().to_vector<double>();
  auto w = want.to(duet::float64).contiguous().to_vector<double>();
  constexpr double rtol = 1e-3, atol = 1e-7;
  size_t bad = 0, first_bad = 0;
  double worst = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    bool ok;
    if (std::isnan(w[i]) || std::isnan(g[i])) {
      ok = std::isnan(w[i]) && std::isnan(g[i]);
    } else if (std::isinf(w[i]) || std::isinf(g[i])) {
      ok = g[i] == w[i];
    } else {
      double err = std::fabs(g[i] - w[i]);
      ok = err <= atol + rtol * std::fabs(w[i]);
      worst = std::max(worst, err);
    }
    if (!ok) {
      if (bad == 0) first_bad = i;
      ++bad;
    }
  }
  if (bad == 0) return "";
  os << bad << " of " << w.size() << " elements differ (first: element " << first_bad << " is "
     << g[first_bad] << ", expected " << w[first_bad] << "; max |diff| " << worst << ")";
  return os.str();
}

struct Outcome {
  Status status = Status::passed;
  std::string detail;
};

Outcome classify_error(const std::string& where, const std::string& what, bool duet_error) {
  if (duet_error && what.find("not supported") != std::string::npos)
    return {Status::unsupported, what};
  return {Status::failed, where + (duet_error ? "" : " (not a duet::Error)") + ": " + what};
}

// Runs one test_data_set directory eagerly and compiled; the input files whose index is in
// `bound` are not fed (their values were made initializers of the model).
Outcome run_data_set(duet::onnx::Model& model, const fs::path& set_dir,
                     const std::set<size_t>& bound) {
  std::vector<duet::Tensor> inputs, expected;
  auto input_files = pb_files(set_dir, "input_");
  for (size_t i = 0; i < input_files.size(); ++i)
    if (!bound.count(i)) inputs.push_back(duet::onnx::load_tensor(input_files[i]));
  for (const auto& p : pb_files(set_dir, "output_")) expected.push_back(duet::onnx::load_tensor(p));
  const auto& declared = model.inputs();
  if (inputs.size() != declared.size()) {
    return {Status::failed, "the model declares " + std::to_string(declared.size()) +
                                " inputs, the data set has " + std::to_string(inputs.size())};
  }
  // eager
  {
    auto out = model.forward_many(inputs);
    if (out.size() < expected.size()) {
      return {Status::failed, "eager: " + std::to_string(out.size()) + " outputs, expected " +
                                  std::to_string(expected.size())};
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      std::string diff = compare(out[i], expected[i], i);
      if (!diff.empty()) return {Status::failed, "eager: " + diff};
    }
  }
  // compiled (a model without inputs is all constants: nothing to compile)
  if (!inputs.empty()) {
    std::vector<duet::Shape> shapes;
    std::map<std::string, duet::Tensor> feeds;
    for (size_t i = 0; i < inputs.size(); ++i) {
      shapes.push_back(inputs[i].shape());
      feeds[declared[i].name] = inputs[i];
    }
    duet::Executable exe;
    try {
      exe = model.compile(shapes);
    } catch (const duet::Error& e) {
      Outcome o = classify_error("graph: compile", e.what(), true);
      return o;
    }
    auto out = exe.run(feeds);
    if (out.size() < expected.size()) {
      return {Status::failed, "graph: " + std::to_string(out.size()) + " outputs, expected " +
                                  std::to_string(expected.size())};
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      std::string diff = compare(out[i], expected[i], i);
      if (!diff.empty()) return {Status::failed, "graph: " + diff};
    }
  }
  return {};
}

// A value ONNX declares as a sequence, map or optional: duet reads tensors only.
std::string non_tensor_value(const ::onnx::GraphProto& g) {
  auto check = [](const ::onnx::ValueInfoProto& v) -> std::string {
    if (v.has_type() && !v.type().has_tensor_type())
      return "value '" + v.name() +
             "' is a sequence, map or optional (not supported: duet reads "
             "tensors only)";
    return "";
  };
  for (const auto& v : g.input())
    if (auto s = check(v); !s.empty()) return s;
  for (const auto& v : g.output())
    if (auto s = check(v); !s.empty()) return s;
  return "";
}

// Loads the model (`load`) and runs it over every data set; errors classified.
template <class Load>
Outcome run_sets(const Load& load, const std::vector<fs::path>& sets,
                 const std::set<size_t>& bound) {
  const char* stage = "load";
  try {
    std::shared_ptr<duet::onnx::Model> model = load();
    stage = "run";
    for (const auto& set : sets) {
      Outcome o = run_data_set(*model, set, bound);
      if (o.status != Status::passed) {
        if (sets.size() > 1) o.detail = set.filename().string() + ": " + o.detail;
        return o;
      }
    }
  } catch (const duet::Error& e) {
    return classify_error(stage, e.what(), true);
  } catch (const std::exception& e) {
    return classify_error(stage, e.what(), false);
  }
  return {};
}

// ONNX's tests feed shapes, axes, pads, indices ... as graph inputs; duet compiles static graphs
// and needs them constant. Returns the model with every INT64/INT32 graph input turned into an
// initializer holding data set `set_dir`'s value (serialized; "" when there is none to bind),
// and in `bound` the indices of those inputs among the fed ones.
std::string bind_int_inputs(::onnx::ModelProto proto, const fs::path& set_dir,
                            std::set<size_t>& bound) {
  auto* g = proto.mutable_graph();
  std::set<std::string> initializers;
  for (const auto& t : g->initializer()) initializers.insert(t.name());
  auto files = pb_files(set_dir, "input_");
  ::google::protobuf::RepeatedPtrField<::onnx::ValueInfoProto> kept;
  size_t fed = 0;
  for (const auto& v : g->input()) {
    if (initializers.count(v.name())) {
      *kept.Add() = v;
      continue;
    }
    size_t index = fed++;
    int32_t elem = v.type().has_tensor_type() ? v.type().tensor_type().elem_type() : 0;
    if ((elem == ::onnx::TensorProto::INT64 || elem == ::onnx::TensorProto::INT32) &&
        index < files.size()) {
      ::onnx::TensorProto t;
      if (t.ParseFromString(read_file(files[index]))) {
        t.set_name(v.name());
        *g->add_initializer() = t;
        bound.insert(index);
        continue;
      }
    }
    *kept.Add() = v;
  }
  if (bound.empty()) return "";
  g->mutable_input()->Swap(&kept);
  return proto.SerializeAsString();
}

CaseResult run_case(const fs::path& dir, const std::string& suite, bool bind) {
  CaseResult r;
  r.name = dir.filename().string();
  r.suite = suite;
  auto t0 = std::chrono::steady_clock::now();
  // The messages name the file: keep them short by dropping the case's directory.
  auto shorten = [&](std::string detail) {
    const std::string prefix = dir.string() + "/";
    for (size_t at; (at = detail.find(prefix)) != std::string::npos;)
      detail.erase(at, prefix.size());
    return first_line(detail, 240);
  };
  auto finish = [&](Outcome o) {
    r.status = o.status;
    r.detail = shorten(o.detail);
    r.blamed_op = blamed_op(r);
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };
  fs::path model_path = dir / "model.onnx";
  ::onnx::ModelProto proto;
  if (!proto.ParseFromString(read_file(model_path)))
    return finish({Status::failed, "model.onnx does not parse as a ModelProto"});
  std::set<std::string> ops;
  collect_ops(proto.graph(), ops);
  r.ops.assign(ops.begin(), ops.end());
  if (std::string s = non_tensor_value(proto.graph()); !s.empty())
    return finish({Status::unsupported, s});
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
      sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return finish({Status::failed, "no test_data_set_* directory"});
  Outcome o = run_sets([&] { return duet::onnx::load(model_path.string()); }, sets, {});
  if (o.status == Status::unsupported && bind && sets.size() == 1) {
    std::set<size_t> bound;
    std::string bytes = bind_int_inputs(proto, sets[0], bound);
    if (!bytes.empty()) {
      Outcome b = run_sets(
          [&] {
            return duet::onnx::load_from_memory(bytes.data(), bytes.size(), "model.onnx (bound)");
          },
          sets, bound);
      r.bound = true;
      r.bound_status = b.status;
      r.bound_detail = shorten(b.detail);
    }
  }
  return finish(o);
}

std::map<std::string, std::string> read_expected_failures(const std::string& path) {
  std::map<std::string, std::string> out;
  if (path.empty()) return out;
  std::ifstream f(path);
  if (!f) {
    std::cerr << "run_node_tests: cannot read " << path << "\n";
    std::exit(2);
  }
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::string name, reason;
    is >> name;
    std::getline(is, reason);
    reason.erase(0, reason.find_first_not_of(" \t"));
    if (!name.empty()) out[name] = reason;
  }
  return out;
}

struct OpCount {
  int passed = 0, failed = 0, unsupported = 0;
  int unsupported_other = 0;  // of the unsupported: the error names another operator of the case
  int bound_passed = 0, bound_failed = 0;  // of the unsupported, run with integer inputs bound
  void add(const CaseResult& r, const std::string& op = "") {
    (r.status == Status::passed ? passed : r.status == Status::failed ? failed : unsupported)++;
    if (r.status == Status::unsupported && !op.empty() && !r.blamed_op.empty() && r.blamed_op != op)
      ++unsupported_other;
    if (r.bound && r.bound_status == Status::passed) ++bound_passed;
    if (r.bound && r.bound_status == Status::failed) ++bound_failed;
  }
};

std::string make_report(const std::vector<CaseResult>& results,
                        const std::set<std::string>& supported,
                        const std::map<std::string, std::string>& expected) {
  std::ostringstream os;
  std::map<std::string, std::map<std::string, OpCount>> per_suite;  // suite -> op -> counts
  std::map<std::string, OpCount> suite_total;
  for (const auto& r : results) {
    suite_total[r.suite].add(r);
    for (const auto& op : r.ops) per_suite[r.suite][op].add(r, op);
  }
  for (const auto& [suite, ops] : per_suite) {
    const auto& t = suite_total[suite];
    os << "## " << suite << ": " << t.passed + t.failed + t.unsupported << " cases, " << t.passed
       << " passed, " << t.failed << " failed, " << t.unsupported << " unsupported (of these, "
       << "with integer inputs bound as initializers: " << t.bound_passed << " passed, "
       << t.bound_failed << " failed)\n\n";
    os << "Unsupported: cases reported unsupported; \"(other op)\": of these, the error names "
          "another operator of the case. Bound: of the unsupported, the run with integer "
          "inputs bound as initializers (--bind-int-inputs).\n\n";
    os << "| operator | imported | passed | failed | unsupported | (other op) | bound: passed | "
          "bound: failed |\n";
    os << "|---|---|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& [op, c] : ops) {
      os << "| " << op << " | " << (supported.count(op) ? "yes" : "no") << " | " << c.passed
         << " | " << c.failed << " | " << c.unsupported << " | " << c.unsupported_other << " | "
         << c.bound_passed << " | " << c.bound_failed << " |\n";
    }
    os << "\nImported operators without a case here:";
    for (const auto& op : supported)
      if (!ops.count(op)) os << " " << op;
    os << "\n\n";
  }
  os << "## failed cases\n\n";
  for (const auto& r : results) {
    bool failed = r.status == Status::failed;
    bool bound_failed = r.bound && r.bound_status == Status::failed;
    if (!failed && !bound_failed) continue;
    auto it = expected.find(r.name);
    os << "- " << r.suite << "/" << r.name
       << (it != expected.end() ? " (expected: " + it->second + ")" : "") << ": "
       << (failed ? r.detail : "integer inputs bound: " + r.bound_detail) << "\n";
  }
  os << "\n## unsupported cases\n\n";
  for (const auto& r : results) {
    if (r.status == Status::unsupported)
      os << "- " << r.suite << "/" << r.name << ": " << r.detail
         << (r.bound ? std::string(" [integer inputs bound: ") + status_name(r.bound_status) + "]"
                     : "")
         << "\n";
  }
  return os.str();
}

int usage() {
  std::cerr << "usage: run_node_tests [--data DIR]... [--filter SUBSTR]... [--report FILE]\n"
               "                      [--expected-failures FILE] [--assert] [--quiet]\n"
               "                      [--bind-int-inputs]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") {
      opt.data_dirs.push_back(value());
    } else if (a == "--filter") {
      opt.filters.push_back(value());
    } else if (a == "--report") {
      opt.report = value();
    } else if (a == "--expected-failures") {
      opt.expected_failures = value();
    } else if (a == "--assert") {
      opt.assert_supported = true;
    } else if (a == "--quiet") {
      opt.quiet = true;
    } else if (a == "--bind-int-inputs") {
      opt.bind_int_inputs = true;
    } else {
      return usage();
    }
  }
  if (opt.data_dirs.empty()) opt.data_dirs.push_back("/usr/share/libonnx-testdata/data/node");
  if (!duet::onnx::available()) {
    std::cout << "SKIPPED: libduet was built without ONNX support\n";
    return 77;
  }
  auto expected = read_expected_failures(opt.expected_failures);
  std::set<std::string> supported;
  for (const auto& op : duet::onnx::supported_operators()) supported.insert(op);

  std::vector<CaseResult> results;
  bool any_dir = false;
  for (const auto& data : opt.data_dirs) {
    if (!fs::is_directory(data)) {
      std::cout << "no data directory " << data << " (libonnx-testdata not installed?)\n";
      continue;
    }
    any_dir = true;
    std::string suite = fs::path(data).filename().string();
    std::vector<fs::path> cases;
    for (const auto& e : fs::directory_iterator(data)) {
      std::string name = e.path().filename().string();
      if (!e.is_directory() || !fs::exists(e.path() / "model.onnx")) continue;
      bool keep = opt.filters.empty();
      for (const auto& f : opt.filters) keep = keep || name.find(f) != std::string::npos;
      if (keep) cases.push_back(e.path());
    }
    std::sort(cases.begin(), cases.end());
    for (const auto& dir : cases) {
      std::cout << "RUN  " << suite << "/" << dir.filename().string() << std::flush;
      CaseResult r = run_case(dir, suite, opt.bind_int_inputs);
      std::cout << "  " << status_name(r.status);
      if (r.status != Status::passed && !opt.quiet) std::cout << ": " << r.detail;
      if (r.bound) {
        std::cout << "; integer inputs bound: " << status_name(r.bound_status);
        if (r.bound_status != Status::passed && !opt.quiet) std::cout << ": " << r.bound_detail;
      }
      std::cout << "\n" << std::flush;
      results.push_back(std::move(r));
    }
  }
  if (!any_dir) return 77;

  std::string report = make_report(results, supported, expected);
  std::cout << "\n" << report;
  if (!opt.report.empty()) {
    std::ofstream f(opt.report);
    f << report;
  }

  // The assertion: a failure of a case that uses an operator duet imports is a bug unless
  // listed (an operator duet does not import must make load() say "not supported").
  int unexpected = 0;
  std::set<std::string> seen;
  for (const auto& r : results) {
    seen.insert(r.name);
    bool any_supported = std::any_of(r.ops.begin(), r.ops.end(), [&](const std::string& op) {
      return supported.count(op) != 0;
    });
    bool listed = expected.count(r.name) != 0;
    if (r.status == Status::failed && any_supported && !listed) {
      std::cout << "UNEXPECTED FAILURE " << r.suite << "/" << r.name << ": " << r.detail << "\n";
      ++unexpected;
    }
    if (r.bound && r.bound_status == Status::failed && any_supported && !listed) {
      std::cout << "UNEXPECTED FAILURE " << r.suite << "/" << r.name
                << " (integer inputs bound): " << r.bound_detail << "\n";
      ++unexpected;
    }
    bool passes = r.status == Status::passed || (r.bound && r.bound_status == Status::passed);
    if (passes && listed)
      std::cout << "note: " << r.name << " passes but is listed in the expected failures\n";
  }
  // A listed case that no suite run here has (a stale entry, when the node suite ran).
  bool ran_node = std::any_of(opt.data_dirs.begin(), opt.data_dirs.end(), [](const std::string& d) {
    return fs::path(d).filename() == "node";
  });
  if (opt.filters.empty() && ran_node) {
    for (const auto& [name, reason] : expected)
      if (!seen.count(name)) std::cout << "note: expected failure " << name << " was not run\n";
  }
  OpCount t;
  for (const auto& r : results) t.add(r);
  std::cout << "\n"
            << results.size() << " cases: " << t.passed << " passed, " << t.failed << " failed, "
            << t.unsupported << " unsupported";
  if (opt.bind_int_inputs)
    std::cout << " (with integer inputs bound: " << t.bound_passed << " passed, " << t.bound_failed
              << " failed)";
  std::cout << "; " << unexpected << " unexpected failures of imported operators\n";
  return opt.assert_supported && unexpected > 0 ? 1 : 0;
}

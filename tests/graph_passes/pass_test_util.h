// Helpers for the graph-pass tests: run one pass on a built graph, count ops.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "duet/graph.h"
#include "graph/executable.h"
#include "graph/passes.h"
#include "test_util.h"

namespace duet::test {

// Live op nodes named `op`.
inline int count_op(const detail::GraphData& g, const std::string& op) {
  int n = 0;
  for (const detail::Node& nd : g.nodes)
    if (!nd.dead && nd.kind == detail::NodeKind::op && nd.op->name == op) ++n;
  return n;
}
// The node of a symbolic tensor.
inline int32_t node_of(const Tensor& t) {
  return detail::graph_value(t)->ref.node;
}
// The graph dumps CompileOptions::dump_passes printed (captured stderr `err`) around pass
// `pass`: `before` up to "--- after <pass>", `after` from there to the next "--- before" (or
// the end). found: both markers were there.
struct PassDumps {
  bool found = false;
  std::string before, after;
};
inline PassDumps dumps_around(const std::string& err, const std::string& pass) {
  const size_t b = err.find("--- before " + pass), a = err.find("--- after " + pass);
  if (b == std::string::npos || a == std::string::npos) return {};
  const size_t next = err.find("--- before", a);
  return {true, err.substr(b, a - b),
          err.substr(a, next == std::string::npos ? std::string::npos : next - a)};
}
// Whether compiling `exe` ran the pass named `pass`.
inline bool ran(const Executable& exe, const std::string& pass) {
  for (const PassStat& s : exe.pass_stats())
    if (s.name == pass) return true;
  return false;
}
inline int count_kind(const detail::GraphData& g, detail::NodeKind kind) {
  int n = 0;
  for (const detail::Node& nd : g.nodes) n += !nd.dead && nd.kind == kind;
  return n;
}

// Ends the build of `g` and runs `pass` on it with `outputs` requested; returns the
// requested values after the pass (remapped).
inline std::vector<detail::ValueRef> run_pass(Graph& g, const std::vector<Tensor>& outputs,
                                              detail::PassFn pass,
                                              const CompileOptions& options = {}) {
  g.end_build();
  std::vector<detail::ValueRef> outs;
  for (const Tensor& t : outputs) outs.push_back(detail::graph_value(t)->ref);
  detail::PassContext ctx{*g.data(), outs, options};
  pass(ctx);
  return outs;
}

// Checks that every node reads only earlier, live nodes (a valid topological order).
inline void expect_topological(const detail::GraphData& g) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const detail::ValueRef& r : g.nodes[i].inputs) {
      ASSERT_LT(static_cast<size_t>(r.node), i) << "node %" << i << " reads a later node";
      ASSERT_FALSE(g.nodes[r.node].dead) << "node %" << i << " reads a dead node";
    }
}

// Exact equality (same bits for floats).
inline void expect_same(const Tensor& a, const Tensor& b) {
  expect_close(a, b, 0, 0);
}

}  // namespace duet::test

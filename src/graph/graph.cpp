// The Graph front end: construction (starts recording), inputs, end_build, dumps.
#include <atomic>

#include "graph/ir.h"

namespace duet {

namespace {
std::atomic<uint64_t> g_graph_ids{1};
}

Graph::Graph(GraphOptions options) : data_(std::make_shared<detail::GraphData>()) {
  data_->id = g_graph_ids.fetch_add(1);
  data_->training = options.training;
  data_->building = true;
  detail::push_recording(data_);
}

Graph::~Graph() {
  end_build();
}

Tensor Graph::input(const std::string& name, const Shape& shape, DType dtype, Device device,
                    std::source_location loc) {
  LocationScope scope(loc);
  DUET_CHECK(data_->building, "Graph::input: graph #", data_->id,
             " is no longer being built; "
             "inputs must be declared before compile()");
  DUET_CHECK(!name.empty(), "Graph::input: the name is empty (expected a feed name)");
  for (const auto& n : data_->nodes)
    DUET_CHECK(!(n.kind == detail::NodeKind::input && n.name == name), "Graph::input: input '",
               name, "' declared twice (first at ", n.loc.str(), ")");
  for (int64_t d : shape)
    DUET_CHECK(d >= 0, "Graph::input: input '", name, "' has a negative size in ",
               shape_str(shape));
  checked_nbytes(shape, dtype_size(dtype), ("Graph::input: input '" + name + "'").c_str());
  detail::Node n;
  n.kind = detail::NodeKind::input;
  n.name = name;
  n.outputs = {{shape, dtype, device}};
  n.loc = current_location();
  const int32_t id = data_->add_node(std::move(n));
  return data_->symbolic({id, 0});
}

void Graph::end_build() {
  if (!data_ || !data_->building) return;
  data_->building = false;
  detail::pop_recording(data_.get());
}

bool Graph::building() const {
  return data_->building;
}
bool Graph::training() const {
  return data_->training;
}
size_t Graph::num_nodes() const {
  return data_->nodes.size();
}
std::string Graph::dump() const {
  return data_->dump();
}
std::string Graph::to_dot() const {
  return data_->to_dot();
}

bool is_tracing() {
  return detail::active_graph() != nullptr;
}
bool tracing_training() {
  auto g = detail::active_graph();
  return g && g->training;
}

}  // namespace duet

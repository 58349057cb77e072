// The op table: every op of src/ops/op_list.h, indexed by OpId, built on first use (and so
// complete from the first question anyone asks). Each entry's OpDef comes from its family's
// accessor; the table checks that the accessor declares the id it is listed under.
#include <mutex>

#include "ops/op_def.h"

namespace duet {

#define DUET_OP_DECLARE_ACCESSOR(op_id, accessor) const OpDef& accessor();
DUET_ALL_OP_LISTS(DUET_OP_DECLARE_ACCESSOR)
#undef DUET_OP_DECLARE_ACCESSOR

namespace {

constexpr const char* kOpNames[] = {
#define DUET_OP_NAME(op_id, accessor) #op_id,
    DUET_ALL_OP_LISTS(DUET_OP_NAME)
#undef DUET_OP_NAME
};
static_assert(std::size(kOpNames) == kNumOps);

struct OpTable {
  std::array<OpDef*, kNumOps> ops{};
  std::mutex mutex;  // register_kernel
};

OpTable& table() {
  static OpTable* t = [] {
    auto* t = new OpTable();
    int i = 0;
#define DUET_OP_FILL(op_id, accessor)                                                 \
  t->ops[i] = const_cast<OpDef*>(&accessor());                                          \
  DUET_ASSERT(t->ops[i]->id == OpId::op_id, "op table: " #accessor " declares op ",     \
              op_name(t->ops[i]->id), " but is listed as " #op_id " (src/ops/op_list.h)"); \
  ++i;
    DUET_ALL_OP_LISTS(DUET_OP_FILL)
#undef DUET_OP_FILL
    return t;
  }();
  return *t;
}

}  // namespace

const char* op_name(OpId id) {
  const int i = static_cast<int>(id);
  return i >= 0 && i < kNumOps ? kOpNames[i] : "<no op>";
}

std::span<const OpDef* const> all_ops() {
  auto& ops = table().ops;
  return {const_cast<const OpDef* const*>(ops.data()), ops.size()};
}

const OpDef& op_def(OpId id) {
  const int i = static_cast<int>(id);
  DUET_CHECK(i >= 0 && i < kNumOps, "op_def: no op with id ", i, " (expected 0 to ", kNumOps - 1,
             ")");
  return *table().ops[i];
}

std::vector<const OpDef*> registered_ops() {
  auto ops = all_ops();
  return {ops.begin(), ops.end()};
}

const OpDef* find_op(const std::string& name) {
  for (int i = 0; i < kNumOps; ++i)
    if (name == kOpNames[i]) return table().ops[i];
  return nullptr;
}

void register_kernel(OpId id, DeviceType device, KernelFn kernel, WorkspaceFn workspace,
                     uint8_t native_low_precision) {
  const int i = static_cast<int>(id), d = static_cast<int>(device);
  DUET_CHECK(i >= 0 && i < kNumOps, "register_kernel: no op with id ", i);
  DUET_CHECK(d >= 0 && d < kNumDeviceTypes, "register_kernel: ", op_name(id),
             ": no device type ", d);
  OpTable& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  t.ops[i]->kernels[d] = kernel;
  t.ops[i]->workspace[d] = workspace;
  t.ops[i]->native_low_precision[d] = native_low_precision;
}

}  // namespace duet

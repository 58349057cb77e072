// Gradient buckets and the cross-rank list checks (buckets.h).
#include "distributed/buckets.h"

#include <sstream>

#include "duet/error.h"

namespace duet::distributed::detail {

std::vector<GradientReducer::BucketInfo> assign_buckets(const std::vector<Tensor>& params,
                                                        double cap_mb) {
  DUET_CHECK(cap_mb > 0, "DistributedDataParallel: bucket_cap_mb = ", cap_mb, " (expected > 0)");
  const double cap_bytes = cap_mb * 1024.0 * 1024.0;
  std::vector<GradientReducer::BucketInfo> buckets;
  Device device;
  double bytes = 0;  // of the current (last) bucket
  for (int64_t i = static_cast<int64_t>(params.size()) - 1; i >= 0; --i) {
    const Tensor& p = params[static_cast<size_t>(i)];
    if (!p.defined() || !p.requires_grad()) continue;
    const double p_bytes =
        static_cast<double>(p.numel()) * static_cast<double>(dtype_size(p.dtype()));
    bool fresh = buckets.empty() || buckets.back().dtype != p.dtype() || !(device == p.device()) ||
                 (!buckets.back().params.empty() && bytes + p_bytes > cap_bytes);
    if (fresh) {
      buckets.push_back({{}, 0, p.dtype()});
      device = p.device();
      bytes = 0;
    }
    buckets.back().params.push_back(i);
    buckets.back().numel += p.numel();
    bytes += p_bytes;
  }
  return buckets;
}

std::vector<std::vector<int64_t>> bucket_layout(
    const std::vector<GradientReducer::BucketInfo>& buckets, const std::vector<Tensor>& params) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& b : buckets)
    out.push_back(
        {0, static_cast<int64_t>(b.dtype), b.numel, static_cast<int64_t>(b.params.size())});
  for (const Tensor& p : params) {
    std::vector<int64_t> e{1, static_cast<int64_t>(p.dtype())};
    for (int64_t d : p.shape()) e.push_back(d);
    out.push_back(std::move(e));
  }
  return out;
}

std::string describe_bucket_entry(const std::vector<int64_t>& e) {
  std::ostringstream os;
  if (e.size() >= 4 && e[0] == 0) {
    os << "a bucket of " << e[3] << " parameters (" << dtype_name(static_cast<DType>(e[1])) << ", "
       << e[2] << " elements)";
  } else if (e.size() >= 2 && e[0] == 1) {
    os << "a parameter " << dtype_name(static_cast<DType>(e[1])) << " (";
    for (size_t i = 2; i < e.size(); ++i) os << (i > 2 ? ", " : "") << e[i];
    os << ")";
  } else {
    os << "?";
  }
  return os.str();
}

namespace {

uint64_t digest(const std::vector<std::vector<int64_t>>& entries) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the values and the entry boundaries
  auto mix = [&h](uint64_t v) {
    for (int k = 0; k < 8; ++k) {
      h ^= (v >> (8 * k)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  for (const auto& e : entries) {
    mix(e.size());
    for (int64_t v : e) mix(static_cast<uint64_t>(v));
  }
  return h;
}

}  // namespace

void check_same_entries(ProcessGroup& group, const std::string& what, const std::string& noun,
                        const std::vector<std::vector<int64_t>>& entries,
                        const std::function<std::string(const std::vector<int64_t>&)>& describe) {
  group.check_same(what, {static_cast<int64_t>(entries.size())},
                   [&noun](const std::vector<int64_t>& s) {
                     return ::duet::detail::cat(s.empty() ? -1 : s[0], " ", noun);
                   });
  try {
    group.check_same(what, {static_cast<int64_t>(digest(entries))},
                     [&noun](const std::vector<int64_t>& s) {
                       std::ostringstream os;
                       os << noun << " with digest " << std::hex << (s.empty() ? 0 : s[0]);
                       return os.str();
                     });
  } catch (const Error&) {
    // Same count, different contents: find the first entry that differs (every rank walks the
    // same number of entries, so the calls match).
    for (size_t i = 0; i < entries.size(); ++i)
      group.check_same(::duet::detail::cat(what, ": entry ", i, " of ", entries.size()), entries[i],
                       describe);
    throw;
  }
}

std::vector<int64_t> named_tensor_entry(const std::string& name, const Tensor& t) {
  std::vector<int64_t> e{static_cast<int64_t>(name.size())};
  for (char c : name) e.push_back(static_cast<unsigned char>(c));
  e.push_back(static_cast<int64_t>(t.dtype()));
  for (int64_t d : t.shape()) e.push_back(d);
  return e;
}

std::string describe_named_tensor_entry(const std::vector<int64_t>& e) {
  if (e.empty() || e[0] < 0 || static_cast<size_t>(e[0]) + 2 > e.size()) return "?";
  size_t n = static_cast<size_t>(e[0]);
  std::string name;
  for (size_t i = 1; i <= n; ++i) name.push_back(static_cast<char>(e[i]));
  std::ostringstream os;
  os << "'" << name << "' " << dtype_name(static_cast<DType>(e[n + 1])) << " (";
  for (size_t i = n + 2; i < e.size(); ++i) os << (i > n + 2 ? ", " : "") << e[i];
  os << ")";
  return os.str();
}

}  // namespace duet::distributed::detail

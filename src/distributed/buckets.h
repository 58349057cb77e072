// Gradient buckets (GradientReducer, duet/distributed/ddp.h) and the cross-rank checks of a
// list of tensors (DistributedDataParallel's parameter list, the bucket layout).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "distributed/process_group.h"
#include "duet/distributed/ddp.h"

namespace duet::distributed::detail {

// Packs the parameters that require grad, in reverse order of `params`, into buckets of at
// most cap_mb MiB of gradient: a new bucket starts when the next parameter would overflow the
// current one (a parameter larger than the cap gets a bucket of its own) or has another dtype
// or device than the current one. Within a bucket, parameters keep that reverse order.
std::vector<GradientReducer::BucketInfo> assign_buckets(const std::vector<Tensor>& params,
                                                        double cap_mb);

// The layout of `buckets` over `params` as integers (for check_same): per bucket its dtype,
// element count and parameter count, then per parameter (constructor order) its dtype and
// dims; and the text describe() gives for it.
std::vector<std::vector<int64_t>> bucket_layout(
    const std::vector<GradientReducer::BucketInfo>& buckets, const std::vector<Tensor>& params);
std::string describe_bucket_entry(const std::vector<int64_t>& entry);

// Checks that every rank has the same list of entries (each a vector of integers): first the
// count, then one digest of all of them; only when the digests differ, entry by entry, so that
// the error names the first entry that differs: "<what>: entry 3: rank 0 has <describe(...)>
// but rank 1 has ...". Every rank must call it (blocking); throws on every rank.
void check_same_entries(ProcessGroup& group, const std::string& what, const std::string& noun,
                        const std::vector<std::vector<int64_t>>& entries,
                        const std::function<std::string(const std::vector<int64_t>&)>& describe);

// (name, tensor) as integers: the name's characters, then dtype and dims; and back to text
// ("layer1.0.conv1.weight: float32 (64, 64, 3, 3)").
std::vector<int64_t> named_tensor_entry(const std::string& name, const Tensor& t);
std::string describe_named_tensor_entry(const std::vector<int64_t>& entry);

}  // namespace duet::distributed::detail

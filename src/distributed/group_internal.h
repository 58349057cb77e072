// Internals shared by the process group (process_group.cpp) and the public collectives
// (collectives.cpp); not part of the contract in process_group.h.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "distributed/process_group.h"

namespace duet::distributed::detail {

// Keeps `keep` (say the tensor an async collective writes) alive until `work` completed.
// `work` must come from ProcessGroup (the communication thread drops `keep` when done).
void hold_until_done(const std::shared_ptr<Work>& work, std::shared_ptr<const void> keep);

// "5 s", "1.5 s", "200 ms".
std::string format_timeout(std::chrono::milliseconds t);

// Throws unless dtype can cross the wire ("<what>: dtype float16 is not supported ...") and,
// for avg, is floating.
void check_comm_dtype(const std::string& what, DType dtype, ReduceOp op = ReduceOp::sum);

// The error for a collective that did not complete within `timeout`.
std::string timeout_message(const std::string& what, int rank, int world_size,
                            std::chrono::milliseconds timeout);

// check_same for a user-level collective on `t` (group.check_shapes() decides whether it runs):
// `key` ("all_reduce (sum)") must match across ranks, and so must dtype and shape; errors read
// "<what>: rank 0 has float32 (2, 3) but rank 1 has float32 (3, 2); expected the same dtype
// and shape on every rank". An undefined t compares the key only (barrier).
// `call` names the exchange in a timeout ("all_reduce (float32, 1000 elements)").
void check_same_tensor(ProcessGroup& group, const std::string& what, const std::string& key,
                       const Tensor* t, const std::string& call);

}  // namespace duet::distributed::detail

// The collective ops of graph-mode data parallelism (collective_ops.cpp): an asynchronous
// all-reduce split into two nodes, so that the graph's schedule can put compute between them.
//
//   Tensor token = all_reduce_start(bucket, ReduceOp::avg, tag);   // queues, returns int64 (1)
//   ... other work (the rest of backward) ...
//   Tensor reduced = all_reduce_wait(bucket, token, ReduceOp::avg, tag);   // bucket's shape
//
// Both run eagerly on concrete tensors and record nodes on symbolic ones. `tag` pairs a start
// with its wait (new_collective_tag() gives a fresh one); the bucket must stay alive and
// unwritten between the two (graph mode guarantees it; the registry also holds a reference).
//
// Attributes (also what a device kernel registered with register_kernel reads, e.g. the NCCL
// plugin's): op = "sum" | "avg" | "min" | "max" (string), tag (int), bucket (int, optional:
// the bucket's index, for messages).
#pragma once

#include <cstdint>
#include <source_location>

#include "duet/distributed.h"
#include "duet/tensor.h"

namespace duet::distributed::detail {

// A process-wide unique tag for one start/wait pair (1, 2, 3, ...).
int64_t new_collective_tag();

// Eager or graph: the two ops. `bucket_index` only names the bucket in messages (-1: none).
Tensor all_reduce_start(const Tensor& bucket, ReduceOp op, int64_t tag, int64_t bucket_index = -1,
                        std::source_location loc = std::source_location::current());
Tensor all_reduce_wait(const Tensor& bucket, const Tensor& token, ReduceOp op, int64_t tag,
                       int64_t bucket_index = -1,
                       std::source_location loc = std::source_location::current());

// Starts queued on the CPU engines whose wait has not run yet (tests: 0 after a step).
int64_t pending_collectives();

}  // namespace duet::distributed::detail

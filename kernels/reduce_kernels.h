// Reductions (sum, mean, max, argmax) and the gradient of max, CPU
// (kernels/cpu/reduce_kernels.cpp) and CUDA (kernels/cuda/reduce_kernels.cu): same attrs, dtypes
// and results.
//
// Reductions run over arbitrary axis sets without permuting: the input is coalesced into
// groups of adjacent kept/reduced axes (kernels/geometry.h: reduced_axes_mask, coalesce_axes),
// and each reduced group is folded as an (outer, reduce, inner) problem. Float sums
// accumulate in double. Work splits into fixed-size chunks combined in a fixed order, so
// results do not depend on the number of threads.
//
// sum: attrs axes, keepdim; float32/float64/int64, bool -> int64
// mean: attrs axes, keepdim; float32/float64
// max: attrs axes, keepdim; float32/float64/int64
// argmax: attrs axis, keepdim; output int64 (the first maximum)
// max_backward: inputs grad (shaped like the max output), x; attrs axes, keepdim; output like x
#pragma once

#include "kernel_api.h"

#define DUET_REDUCE_KERNELS(X) X(sum) X(mean) X(max) X(argmax) X(max_backward)
DUET_DECLARE_DEVICE_KERNELS(DUET_REDUCE_KERNELS)

// Ops that draw random numbers, CPU (kernels/cpu/random_kernels.cpp) and CUDA
// (kernels/cuda/random_kernels.cu), bit-identical for the same seed.
//
// dropout: inputs x; outputs y = x * mask, mask (x's dtype; 0 or 1 / (1 - p)); attrs: p, seed.
//   An element is kept when its 32 random bits are >= ceil(p * 2^32). Elements are split into
//   fixed-size chunks, each with its own generator seeded from (seed, chunk index), so the
//   mask depends only on the seed, never on the thread count or the device.
#pragma once

#include "kernel_api.h"

#define DUET_RANDOM_KERNELS(X) X(dropout)
DUET_DECLARE_DEVICE_KERNELS(DUET_RANDOM_KERNELS)

// The whole public API: one include for a program that uses duet.
//
//   #include <duet/duet.h>
//   duet::Generator gen(0);
//   auto x = duet::Tensor::randn({4, 3}, gen).requires_grad_();
//   auto loss = duet::sum(duet::relu(x));
//   loss.backward();
//
// Tensors, ops and autograd; nn modules, optimizers and schedules; graph mode (Graph,
// compile, jit, check_equivalence); data (IDX, MNIST, DataLoader); io (safetensors,
// load_weights); the model zoo; training (duet::train::fit, callbacks); the profiler;
// TensorBoard event files; duet::summary.
// tests/core/umbrella_test.cpp uses one name from each.
#pragma once

#include "duet/amp.h"
#include "duet/attrs.h"
#include "duet/autograd.h"
#include "duet/cuda.h"
#include "duet/dtype.h"
#include "duet/error.h"
#include "duet/half.h"
#include "duet/int2.h"
#include "duet/memory.h"
#include "duet/ops.h"
#include "duet/random.h"
#include "duet/shape.h"
#include "duet/simd.h"
#include "duet/source_location.h"
#include "duet/tensor.h"
#include "duet/threads.h"

#include "duet/data.h"
#include "duet/equivalence.h"
#include "duet/graph.h"
#include "duet/io.h"
#include "duet/jit.h"
#include "duet/models.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/profiler.h"
#include "duet/summary.h"
#include "duet/tensorboard.h"
#include "duet/train.h"

// The whole public API.
//
//   #include <duet/duet.h>
//   duet::Generator gen(0);
//   auto x = duet::Tensor::randn({4, 3}, gen).requires_grad_();
//   auto loss = duet::sum(duet::relu(x));
//   loss.backward();
#pragma once

#include "duet/autograd.h"
#include "duet/cuda.h"
#include "duet/dtype.h"
#include "duet/error.h"
#include "duet/memory.h"
#include "duet/ops.h"
#include "duet/random.h"
#include "duet/tensor.h"
#include "duet/threads.h"

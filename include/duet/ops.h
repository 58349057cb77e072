// All ops, as free functions. Each is defined once in the op table (src/ops/) and works
// in eager and graph mode alike.
//
//   #include <duet/ops.h>
//   auto y = duet::relu(duet::conv2d(x, w, b, {.padding = {1, 1}}));
//
// Every op function ends with a defaulted `std::source_location loc` parameter: the caller's
// line, which graph nodes show (Graph::dump(), errors). Leave it out when calling; library
// code forwarding a call may pass its own caller's `loc` on.
#pragma once

#include "duet/ops/activation.h"
#include "duet/ops/conv.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/fused.h"
#include "duet/ops/inplace.h"
#include "duet/ops/linalg.h"
#include "duet/ops/loss.h"
#include "duet/ops/norm.h"
#include "duet/ops/pool.h"
#include "duet/ops/random.h"
#include "duet/ops/reduce.h"
#include "duet/ops/shape.h"

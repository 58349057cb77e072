// Ops that fuse a weight gradient with its optimizer update (made by the graph pass
// fuse_updates, never by model code), so the full gradient is never materialised.
#pragma once

#include "ops/op_def.h"

namespace duet {

// linear_grad_adam_step_: inputs (grad_out (rows, out), x (rows, in), W (out, in), exp_avg,
// exp_avg_sq, lr, step[, found_inf]); attrs as adam_step_ (gated = true: found_inf last, and
// nothing changes when it is nonzero). Computes dW = grad_out^T @ x block of rows by block of
// rows and applies Adam to those rows of W, exp_avg and exp_avg_sq at once.
// Mutates W, exp_avg, exp_avg_sq and step; no outputs, no gradient.
const OpDef& linear_grad_adam_step_def();

}  // namespace duet

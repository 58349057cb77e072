// Training workflow (duet::train): fit and evaluate, metrics, callbacks, learning-rate
// schedules, checkpoints that resume, TensorBoard, profiling a window of steps.
//
//   #include <duet/train.h>
//   auto history = duet::train::fit(*net, loss_fn, opt, train_loader, {.epochs = 3});
//
// docs/guide.md walks through each piece.
#pragma once

#include "duet/train/callback.h"
#include "duet/train/checkpoint.h"
#include "duet/train/model_checkpoint.h"
#include "duet/train/tensorboard_callback.h"
#include "duet/train/profile_callback.h"
#include "duet/train/callbacks.h"
#include "duet/train/fit.h"
#include "duet/train/metrics.h"

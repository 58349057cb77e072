// Optimizers, their fused update ops and learning-rate schedules (duet::optim).
//
//   #include <duet/optim.h>
//   duet::optim::SGD opt(net->parameters(), 0.1, 0.9);
//   duet::optim::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (int epoch = 0; epoch < 90; ++epoch) {
//     for (auto& b : loader) {
//       opt.zero_grad();
//       duet::cross_entropy((*net)(b.x), b.y).backward();
//       opt.step();
//     }
//     sched.step();
//   }
#pragma once

#include "duet/optim/adam.h"
#include "duet/optim/lr_scheduler.h"
#include "duet/optim/optimizer.h"
#include "duet/optim/sgd.h"
#include "duet/optim/updates.h"

// duet/duet.h is the whole public API (issue #13, bug 2): this file includes nothing else of
// duet and uses one name from each part. It is also compiled with
// -Wmissing-field-initializers (tests/CMakeLists.txt; our own build turns it off,
// cmake/warnings.cmake, a user's does not): the documented designated initializers of every
// public options struct must not warn (bug 4).
#include <duet/duet.h>
#include <gtest/gtest.h>

#include <memory>
#include <type_traits>

TEST(Umbrella, OneNameFromEachPart) {
  duet::Generator gen(0);
  duet::Tensor x = duet::Tensor::randn({2, 4}, gen).requires_grad_();
  duet::sum(duet::relu(x)).backward();                            // tensors, ops, autograd
  auto fc = std::make_shared<duet::nn::Linear>(4, 3, true, gen);  // nn
  duet::optim::SGD sgd(fc->parameters(), 0.1, 0.9);               // optim
  duet::optim::StepLR sched(sgd, 10, 0.5);
  duet::Graph g;  // graph
  duet::Tensor gx = g.input("x", {2, 4});
  duet::Tensor gy = (*fc)(gx);
  duet::Executable exe = duet::compile(g, {gy});
  EXPECT_EQ(exe.run({{"x", x.detach()}})[0].shape(), (duet::Shape{2, 3}));
  auto step = duet::jit([&](const std::vector<duet::Tensor>& in) {  // jit
    return std::vector<duet::Tensor>{(*fc)(in[0])};
  });
  EXPECT_EQ(step({x.detach()})[0].shape(), (duet::Shape{2, 3}));
  static_assert(std::is_class_v<duet::data::DataLoader>);                         // data
  static_assert(std::is_class_v<duet::EquivalenceReport>);                        // equivalence
  duet::nn::StateDict (*load)(const std::string&) = &duet::io::load_safetensors;  // io
  EXPECT_NE(load, nullptr);
  EXPECT_FALSE(duet::models::model_names().empty());                 // models
  static_assert(std::is_class_v<duet::tensorboard::SummaryWriter>);  // tensorboard
  static_assert(std::is_class_v<duet::train::History>);              // train
  {
    duet::profiler::Profile p({.max_events = 1000});  // profiler
    duet::relu(x);
    p.stop();
    EXPECT_FALSE(p.table({.sort_by = "self_cpu", .row_limit = 20}).empty());
  }
  duet::Summary s = duet::summary(*fc, {2, 4});  // summary
  EXPECT_EQ(s.total_params, 15);
  EXPECT_EQ(duet::format_bytes(2048), "2.00 KiB");  // memory
  EXPECT_GE(duet::num_threads(), 1);                // threads
  EXPECT_EQ(duet::Int2(3), (duet::Int2{3, 3}));
}

// The designated initializers the docs and header comments show, with members left out.
TEST(Umbrella, DesignatedInitializersDoNotWarn) {
  duet::Generator gen(0);
  auto fc = std::make_shared<duet::nn::Linear>(4, 3, true, gen);
  duet::optim::Adam adam(fc->parameters(), 1e-3);
  duet::CompileOptions training{.training = true, .optimizer = &adam};
  duet::CompileOptions graphs{.cuda_graph = false};
  duet::GraphOptions graph_options{.training = true};
  duet::Conv2dOptions conv{.stride = 2, .padding = 1};
  duet::Conv2dOptions depthwise{.padding = 1, .groups = 32};
  duet::Pool2dOptions pool{.kernel = 3, .stride = 2, .padding = 1};
  duet::EquivalenceOptions equivalence{.rtol = 1e-4};
  duet::data::IdxOptions idx{.dtype = duet::float32, .scale = 1.0 / 255};
  duet::optim::OneCycleOptions one_cycle{.pct_start = 0.25};
  duet::optim::PlateauOptions plateau{.mode = "min", .patience = 2};
  duet::models::BatchNormOptions bn{.eps = 1e-3};
  duet::SummaryOptions summary{.depth = 1};
  duet::profiler::ProfileOptions profile{.record_shapes = false};
  duet::train::ProfileStepsOptions steps{.print_table = false};
  duet::train::FitOptions fit{.epochs = 3, .mode = duet::train::Execution::graph,
                              .clip_grad_norm = 1.0, .progress = duet::train::Progress::none};
  duet::train::EvaluateOptions evaluate{.mode = duet::train::Execution::graph};
  duet::train::EarlyStoppingOptions early{.monitor = "val_loss", .patience = 3,
                                          .restore_best_weights = true};
  EXPECT_TRUE(fit.metrics.empty() && evaluate.metrics.empty() && early.mode == "auto");
  duet::tensorboard::SummaryWriterOptions tensorboard{.flush_secs = 5};
  duet::tensorboard::SummaryWriterOptions queued{.max_queue = 3, .flush_secs = 1e9};
  duet::train::TensorBoardOptions tb_callback{.update_freq = 100,
                                              .graph_input_shape = duet::Shape{1, 784}};
  EXPECT_EQ(tensorboard.max_queue + queued.max_queue, 13);
  EXPECT_EQ(tb_callback.graph_input_shape, (duet::Shape{1, 784}));
  duet::data::DataLoaderOptions loader_options{.batch_size = 128, .seed = 42, .num_workers = 2};
  duet::data::IdxDatasetOptions idx_dataset{.mean = 0.2860, .std = 0.3530};
  duet::train::Checkpoint checkpoint{.model = fc.get(), .optimizer = &adam, .epoch = 1};
  duet::train::ModelCheckpointOptions model_checkpoint{.last = "last.safetensors",
                                                       .monitor = "val_accuracy", .mode = "max"};
  EXPECT_TRUE(loader_options.shuffle && !loader_options.transform && idx_dataset.std > 0 &&
              checkpoint.default_generator && model_checkpoint.best.empty());
  EXPECT_FALSE(profile.record_shapes || steps.print_table);
  EXPECT_TRUE(training.training && !graphs.cuda_graph && graph_options.training);
  EXPECT_EQ(conv.padding, (duet::Int2{1, 1}));
  EXPECT_EQ(depthwise.groups + pool.kernel[0], 35);
  EXPECT_NEAR(equivalence.rtol + idx.scale * 255 + one_cycle.pct_start + bn.eps, 1.2511, 1e-12);
  EXPECT_EQ(plateau.patience + summary.depth, 3);
}

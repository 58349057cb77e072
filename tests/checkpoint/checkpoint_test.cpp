// save_checkpoint / load_checkpoint: the file layout (read back with the plain safetensors
// reader), partial loads, all-or-nothing errors for another model or optimizer, hostile
// metadata (wrong types, huge numbers, missing keys), generator state, ModelCheckpoint.
#include <filesystem>

#include "duet/data.h"
#include "duet/io.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train.h"
#include "io/io_test_util.h"
#include "test_util.h"

using namespace duet;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<nn::Sequential> mlp(int64_t hidden, uint64_t seed) {
  Generator g(seed);
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, hidden, true, g), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(hidden, 2, true, g)});
}

std::vector<std::vector<float>> weights(const nn::Module& m) {
  std::vector<std::vector<float>> v;
  for (const auto& [k, t] : m.state_dict()) v.push_back(t.to_vector<float>());
  return v;
}

std::vector<std::vector<float>> opt_values(const optim::Optimizer& opt) {
  std::vector<std::vector<float>> v;
  for (const auto& [k, t] : opt.state_dict().state) v.push_back(t.to(float32).to_vector<float>());
  return v;
}

void train_steps(nn::Module& m, optim::Optimizer& opt, int n) {
  Generator g(3);
  for (int i = 0; i < n; ++i) {
    Tensor x = Tensor::randn({5, 4}, g);
    Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 1, 0, 1}, {5});
    opt.zero_grad();
    cross_entropy(m(x), y).backward();
    opt.step();
  }
}

// A full checkpoint of a trained model + Adam + StepLR + loader at `path`.
struct Saved {
  std::shared_ptr<nn::Sequential> model = mlp(8, 1);
  optim::Adam opt{model->parameters(), 0.01};
  optim::StepLR sched{opt, 2, 0.5};
  data::DataLoader loader{Tensor::zeros({10, 4}), Tensor::zeros({10}, int64), 4, true, 3};
  explicit Saved(const std::string& path) {
    train_steps(*model, opt, 3);
    sched.step();
    loader.next();
    train::save_checkpoint(path, {.model = model.get(),
                                  .optimizer = &opt,
                                  .scheduler = &sched,
                                  .loader = &loader,
                                  .epoch = 2,
                                  .global_step = 3,
                                  .metadata = {{"run", "a"}}});
  }
};

// Rewrites the checkpoint at `path` with one metadata entry changed (or erased when value
// is nullopt), tensors unchanged.
void rewrite_meta(const std::string& path, const std::string& key,
                  std::optional<std::string> value) {
  auto file = io::load_safetensors_file(path);
  if (value)
    file.metadata[key] = *value;
  else
    file.metadata.erase(key);
  io::save_safetensors(path, file.tensors, file.metadata);
}

void rewrite_tensor(const std::string& path, const std::string& key, const Tensor& t) {
  auto file = io::load_safetensors_file(path);
  for (auto& [k, v] : file.tensors)
    if (k == key) v = t;
  io::save_safetensors(path, file.tensors, file.metadata);
}

}  // namespace

TEST(Checkpoint, FileLayoutReadsBackAsSafetensors) {
  test::TempDir dir;
  const std::string path = dir.file("c.safetensors");
  Saved s(path);
  const auto meta = io::load_safetensors_metadata(path);
  EXPECT_EQ(meta.at("format"), "duet.checkpoint");
  EXPECT_EQ(meta.at("format_version"), "1");
  EXPECT_EQ(meta.at("epoch"), "2");
  EXPECT_EQ(meta.at("global_step"), "3");
  EXPECT_EQ(meta.at("parts"), "model,optimizer,scheduler,loader");
  EXPECT_EQ(meta.at("optimizer.name"), "Adam");
  EXPECT_EQ(meta.at("optimizer.hp.lr"), "0.01");  // StepLR(2): epoch 1 keeps the lr
  EXPECT_EQ(meta.at("scheduler.name"), "StepLR");
  EXPECT_EQ(meta.at("loader.seed"), "3");
  EXPECT_EQ(meta.at("loader.next_batch"), "1");
  EXPECT_EQ(meta.at("loader.in_epoch"), "1");
  EXPECT_EQ(meta.at("user.run"), "a");
  const nn::StateDict tensors = io::load_safetensors(path);
  std::vector<std::string> keys;
  for (const auto& [k, t] : tensors) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"model.0.weight", "model.0.bias", "model.2.weight",
                                            "model.2.bias", "optimizer.0.step",
                                            "optimizer.0.exp_avg", "optimizer.0.exp_avg_sq",
                                            "optimizer.1.step", "optimizer.1.exp_avg",
                                            "optimizer.1.exp_avg_sq", "optimizer.2.step",
                                            "optimizer.2.exp_avg", "optimizer.2.exp_avg_sq",
                                            "optimizer.3.step", "optimizer.3.exp_avg",
                                            "optimizer.3.exp_avg_sq", "rng.default"}));
  EXPECT_EQ(nn::find(tensors, "model.0.weight").to_vector<float>(),
            nn::find(s.model->state_dict(), "0.weight").to_vector<float>());
  EXPECT_EQ(nn::find(tensors, "optimizer.3.step").item<int64_t>(), 3);
  const train::CheckpointInfo info = train::read_checkpoint_info(path);
  EXPECT_EQ(info.epoch, 2);
  EXPECT_EQ(info.metadata.at("run"), "a");
}

TEST(Checkpoint, WeightsOnlyFromAFullCheckpointAndGenerators) {
  test::TempDir dir;
  const std::string path = dir.file("c.safetensors");
  Saved s(path);
  auto fresh = mlp(8, 2);
  train::load_checkpoint(path, {.model = fresh.get(), .default_generator = false});
  EXPECT_EQ(weights(*fresh), weights(*s.model));

  // Named generators, the Box-Muller spare included.
  Generator a(5), b(6);
  a.normal();  // leaves a spare
  const std::string gpath = dir.file("g.safetensors");
  train::save_checkpoint(gpath, {.generators = {{"aug", &a}}, .default_generator = false});
  train::load_checkpoint(gpath, {.generators = {{"aug", &b}}, .default_generator = false});
  EXPECT_EQ(b.state(), a.state());
  EXPECT_TRUE(b.state().have_spare);
  EXPECT_EQ(b.normal(), a.normal());
  EXPECT_EQ(b.next_u64(), a.next_u64());
  EXPECT_DUET_ERROR(
      train::load_checkpoint(gpath, {.generators = {{"other", &b}}, .default_generator = false}),
      "no state for generator 'other'");
  EXPECT_DUET_ERROR(train::load_checkpoint(gpath, {.model = fresh.get()}),
                    "holds no model state (it holds: none");
}

TEST(Checkpoint, AnotherModelNamesTheKeyAndShapesAndChangesNothing) {
  test::TempDir dir;
  const std::string path = dir.file("c.safetensors");
  Saved s(path);
  auto other = mlp(6, 2);  // hidden 6, not 8
  optim::Adam opt(other->parameters(), 0.01);
  const auto w = weights(*other);
  EXPECT_DUET_ERROR(train::load_checkpoint(path, {.model = other.get(), .optimizer = &opt}),
                    "load_checkpoint", "'0.weight'", "(8, 4)", "(6, 4)");
  EXPECT_EQ(weights(*other), w);
  EXPECT_EQ(opt.state(0).step(), 0);
}

TEST(Checkpoint, AnotherOptimizerRollsTheModelBack) {
  test::TempDir dir;
  const std::string path = dir.file("c.safetensors");
  Saved s(path);
  auto fresh = mlp(8, 2);
  optim::SGD sgd(fresh->parameters(), 0.1, 0.9);
  const auto w = weights(*fresh);
  const GeneratorState rng = default_generator().state();
  default_generator().next_u64();
  const GeneratorState rng_now = default_generator().state();
  ASSERT_NE(rng, rng_now);
  // The model loads first, then the optimizer refuses: the model is restored.
  EXPECT_DUET_ERROR(train::load_checkpoint(path, {.model = fresh.get(), .optimizer = &sgd}),
                    "load_checkpoint", "optimizer 'Adam'", "expected 'SGD'");
  EXPECT_EQ(weights(*fresh), w);
  EXPECT_EQ(default_generator().state(), rng_now);
  // A loader for another dataset is refused after everything else loaded: all restored.
  optim::Adam adam(fresh->parameters(), 0.03);
  optim::StepLR sched(adam, 2, 0.5);
  data::DataLoader loader(Tensor::zeros({11, 4}), Tensor::zeros({11}, int64), 4, true, 9);
  EXPECT_DUET_ERROR(train::load_checkpoint(path, {.model = fresh.get(),
                                                  .optimizer = &adam,
                                                  .scheduler = &sched,
                                                  .loader = &loader}),
                    "set_state", "10 samples", "has 11");
  EXPECT_EQ(weights(*fresh), w);
  EXPECT_EQ(adam.lr(), 0.03);
  EXPECT_EQ(adam.state(0).step(), 0);
  EXPECT_EQ(sched.last_epoch(), 0);
  EXPECT_EQ(default_generator().state(), rng_now);
  EXPECT_EQ(loader.state().seed, 9u);
  optim::CosineAnnealingLR cosine(adam, 5);
  EXPECT_DUET_ERROR(train::load_checkpoint(path, {.scheduler = &cosine}), "schedule is \"StepLR\"",
                    "CosineAnnealingLR");
}

TEST(Checkpoint, HostileMetadataAndTensors) {
  test::TempDir dir;
  const std::string path = dir.file("c.safetensors");
  Saved s(path);
  const std::string good = dir.file("good.safetensors");
  fs::copy_file(path, good);
  auto fresh = mlp(8, 2);
  optim::Adam opt(fresh->parameters(), 0.01);
  optim::StepLR sched(opt, 2, 0.5);
  data::DataLoader loader(Tensor::zeros({10, 4}), Tensor::zeros({10}, int64), 4, true, 9);
  const auto w = weights(*fresh);
  const GeneratorState rng = default_generator().state();
  auto load = [&] {
    train::load_checkpoint(path, {.model = fresh.get(),
                                  .optimizer = &opt,
                                  .scheduler = &sched,
                                  .loader = &loader});
  };
  struct Case {
    std::string key;
    std::optional<std::string> value;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {"format", std::nullopt, {"not a duet checkpoint", "absent"}},
      {"format", "pt", {"not a duet checkpoint", "\"pt\""}},
      {"format_version", "2", {"format_version 2 is newer"}},
      {"format_version", "one", {"'format_version' = \"one\"", "integer"}},
      {"epoch", "-1", {"'epoch' = \"-1\"", "from 0 to"}},
      {"epoch", "99999999999999999999999", {"'epoch'", "integer"}},
      {"epoch", "3.5", {"'epoch'"}},
      {"global_step", std::nullopt, {"no 'global_step' entry"}},
      {"parts", std::nullopt, {"no 'parts' entry"}},
      {"parts", "model", {"holds no optimizer state (it holds: model"}},
      {"optimizer.name", std::nullopt, {"no 'optimizer.name'"}},
      {"optimizer.hp.lr", "1e400", {"'optimizer.hp.lr' = \"1e400\"", "finite number"}},
      {"optimizer.hp.lr", "nan", {"'optimizer.hp.lr'"}},
      {"optimizer.hp.lr", " 0.1", {"'optimizer.hp.lr'"}},
      {"optimizer.hp.lr", "0.1x", {"'optimizer.hp.lr'"}},
      {"optimizer.hp.lr", "-0.5", {"lr = -0.5"}},
      {"optimizer.hp.beta1", std::nullopt, {"missing hyper-parameter 'beta1'"}},
      {"optimizer.hp.amsgrad", "1", {"unexpected hyper-parameter 'amsgrad'"}},
      {"scheduler.state.last_epoch", std::nullopt, {"last_epoch"}},
      {"scheduler.state.last_epoch", "nan", {"'scheduler.state.last_epoch'"}},
      // StepLR::load_state_dict changes its state, then the optimizer refuses lr = -1: the
      // schedule is restored too (found by fuzz_checkpoint).
      {"scheduler.state.last_lr", "-1", {"lr = -1"}},
      {"loader.seed", "-3", {"'loader.seed'", "unsigned"}},
      {"loader.seed", std::string(300, '9'), {"'loader.seed'", "(300 bytes)"}},
      {"loader.in_epoch", "2", {"'loader.in_epoch' = \"2\"", "from 0 to 1"}},
      {"loader.batch_size", "0", {"'loader.batch_size'"}},
      {"loader.next_batch", "4", {"next_batch = 4", "0 to 3"}},
      {"loader.shuffle", std::nullopt, {"no 'loader.shuffle'"}},
  };
  for (const Case& c : cases) {
    fs::copy_file(good, path, fs::copy_options::overwrite_existing);
    rewrite_meta(path, c.key, c.value);
    try {
      load();
      ADD_FAILURE() << "no error for " << c.key;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("load_checkpoint"), std::string::npos) << what;
      for (const auto& part : c.expect)
        EXPECT_NE(what.find(part), std::string::npos) << c.key << ": " << what << "\nmissing "
                                                      << part;
      EXPECT_LT(what.size(), 2000u);
    }
    EXPECT_EQ(weights(*fresh), w) << c.key;
    EXPECT_EQ(opt.state(0).step(), 0) << c.key;
    EXPECT_EQ(opt.lr(), 0.01) << c.key;
    EXPECT_EQ(sched.last_epoch(), 0) << c.key;
    EXPECT_EQ(default_generator().state(), rng) << c.key;
    EXPECT_EQ(loader.state().seed, 9u) << c.key;
  }
  const std::vector<std::pair<Tensor, std::string>> tensor_cases = {
      {Tensor::zeros({6}), "'rng.default' has shape (6,) float32"},
      {Tensor::zeros({5}, int64), "'rng.default' has shape (5,)"},
      {Tensor::zeros({6}, int64), "all-zero generator state"},
      {Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4, 7, 0}, {6}), "spare flag 7"},
      {Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4, 1, 0x7ff0000000000000}, {6}),
       "spare normal that is not finite"},
  };
  for (const auto& [t, expect] : tensor_cases) {
    fs::copy_file(good, path, fs::copy_options::overwrite_existing);
    rewrite_tensor(path, "rng.default", t);
    EXPECT_DUET_ERROR(load(), "load_checkpoint", expect);
    EXPECT_EQ(weights(*fresh), w);
  }
  // A foreign tensor, and a file that is not safetensors at all.
  fs::copy_file(good, path, fs::copy_options::overwrite_existing);
  {
    auto file = io::load_safetensors_file(path);
    file.tensors.emplace_back("extra", Tensor::zeros({1}));
    io::save_safetensors(path, file.tensors, file.metadata);
  }
  EXPECT_DUET_ERROR(load(), "unexpected tensor \"extra\"");
  test::write_file(path, "not a checkpoint");
  EXPECT_DUET_ERROR(load(), "load_safetensors");
  // Finally the good file loads.
  fs::copy_file(good, path, fs::copy_options::overwrite_existing);
  load();
  EXPECT_EQ(weights(*fresh), weights(*s.model));
  EXPECT_EQ(opt_values(opt), opt_values(s.opt));
  EXPECT_EQ(sched.last_epoch(), 1);
  EXPECT_EQ(opt.lr(), s.opt.lr());
  EXPECT_EQ(loader.state().next_batch, 1);
  EXPECT_EQ(loader.state().seed, 3u);
}

TEST(Checkpoint, SaveErrors) {
  test::TempDir dir;
  Generator g;
  EXPECT_DUET_ERROR(train::save_checkpoint(dir.file("x"), {.epoch = -1}), "save_checkpoint",
                    "epoch = -1");
  EXPECT_DUET_ERROR(
      train::save_checkpoint(dir.file("x"), {.generators = {{"default", &g}}}),
      "generator name 'default' appears more than once");
  EXPECT_DUET_ERROR(train::save_checkpoint(dir.file("x"), {.generators = {{"a.b", &g}}}),
                    "generator name \"a.b\"");
  EXPECT_DUET_ERROR(train::save_checkpoint(dir.file("no/such/dir/x"), {}), "save_checkpoint");
  EXPECT_FALSE(fs::exists(dir.file("x")));
}

TEST(ModelCheckpointCallback, LastEveryEpochBestOnImprovement) {
  test::TempDir dir;
  auto model = mlp(8, 1);
  optim::SGD opt(model->parameters(), 0.1, 0.9);
  data::DataLoader loader(Tensor::zeros({10, 4}), Tensor::zeros({10}, int64), 4, true, 3);
  train::ModelCheckpoint cb({.last = dir.file("last.safetensors"),
                             .best = dir.file("best-{epoch}-{val_acc}.safetensors"),
                             .monitor = "val_acc",
                             .mode = "max",
                             .metadata = {{"run", "cb"}}});
  train::FitState s;
  s.model = model.get();
  s.optimizer = &opt;
  s.train_loader = &loader;
  const std::vector<double> accs = {0.5, 0.7, 0.6, std::nan("")};
  for (size_t e = 0; e < accs.size(); ++e) {
    s.epoch = static_cast<int64_t>(e);
    s.global_step = 3 * static_cast<int64_t>(e + 1);
    train::Logs logs;
    logs.set("loss", 1.0 / static_cast<double>(e + 1));
    logs.set("val_acc", accs[e]);
    train_steps(*model, opt, 1);
    cb.on_epoch_end(s, logs);
    EXPECT_EQ(train::read_checkpoint_info(dir.file("last.safetensors")).epoch,
              static_cast<int64_t>(e + 1));
  }
  EXPECT_EQ(cb.best_value(), 0.7);
  EXPECT_EQ(cb.best_path(), dir.file("best-2-0.7000.safetensors"));
  EXPECT_TRUE(fs::exists(dir.file("best-1-0.5000.safetensors")));
  EXPECT_FALSE(fs::exists(dir.file("best-3-0.6000.safetensors")));
  const train::CheckpointInfo best = train::read_checkpoint_info(cb.best_path());
  EXPECT_EQ(best.epoch, 2);
  EXPECT_EQ(best.global_step, 6);
  EXPECT_EQ(best.metadata.at("run"), "cb");
  EXPECT_EQ(best.metadata.at("logs.val_acc"), "0.69999999999999996");
  // The last checkpoint resumes a fresh model and optimizer.
  auto fresh = mlp(8, 2);
  optim::SGD opt2(fresh->parameters(), 0.1, 0.9);
  train::load_checkpoint(dir.file("last.safetensors"),
                         {.model = fresh.get(), .optimizer = &opt2, .default_generator = false});
  EXPECT_EQ(weights(*fresh), weights(*model));
  EXPECT_EQ(opt_values(opt2), opt_values(opt));

  train::Logs no_acc;
  no_acc.set("loss", 0.1);
  EXPECT_DUET_ERROR(cb.on_epoch_end(s, no_acc), "val_acc");
  EXPECT_DUET_ERROR(train::ModelCheckpoint({.best = "b", .mode = "up"}), "mode = 'up'");
  EXPECT_DUET_ERROR(train::ModelCheckpoint({}), "neither `last` nor `best`");
  EXPECT_DUET_ERROR(train::ModelCheckpoint::expand("a-{nope}", 1, 1, no_acc), "{nope}",
                    "loss 0.1");
  train::ModelCheckpoint weights_only({.last = dir.file("w.safetensors"), .weights_only = true});
  weights_only.on_epoch_end(s, no_acc);
  auto w2 = mlp(8, 3);
  io::load_weights(*w2, dir.file("w.safetensors"));
  EXPECT_EQ(weights(*w2), weights(*model));
}

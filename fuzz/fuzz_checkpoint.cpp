// libFuzzer target: the bytes as a checkpoint file, loaded by duet::train::load_checkpoint
// into a fixed set of targets (a 2-layer MLP, Adam, StepLR, a DataLoader over 10 samples, the
// default generator and a named one) and read by read_checkpoint_info. Either returns or
// throws duet::Error; on an error every target must be exactly as before (all-or-nothing).
//
//   scripts/fuzz.sh fuzz_checkpoint 60
//   DUET_FUZZ_MAKE_SEEDS=fuzz/corpus/fuzz_checkpoint build-fuzz/fuzz/fuzz_checkpoint -runs=1
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "duet/data/dataloader.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/train/checkpoint.h"
#include "fuzz_util.h"

namespace {

struct Targets {
  std::shared_ptr<duet::nn::Sequential> model;
  std::unique_ptr<duet::optim::Adam> opt;
  std::unique_ptr<duet::optim::StepLR> sched;
  std::unique_ptr<duet::data::DataLoader> loader;
  duet::Generator aug{17};

  Targets() {
    duet::Generator g(1);
    model = std::make_shared<duet::nn::Sequential>(std::vector<std::shared_ptr<duet::nn::Module>>{
        std::make_shared<duet::nn::Linear>(4, 3, true, g), std::make_shared<duet::nn::ReLU>(),
        std::make_shared<duet::nn::Linear>(3, 2, true, g)});
    opt = std::make_unique<duet::optim::Adam>(model->parameters(), 0.01);
    sched = std::make_unique<duet::optim::StepLR>(*opt, 2, 0.5);
    loader = std::make_unique<duet::data::DataLoader>(
        duet::Tensor::zeros({10, 4}), duet::Tensor::zeros({10}, duet::int64),
        duet::data::DataLoaderOptions{.batch_size = 4, .num_workers = 0});
  }
  duet::train::Checkpoint all() {
    return {.model = model.get(),
            .optimizer = opt.get(),
            .scheduler = sched.get(),
            .loader = loader.get(),
            .generators = {{"aug", &aug}}};
  }
  // Every value a load may change, as one string of bytes per target.
  std::vector<std::string> fingerprint() const {
    std::vector<std::string> parts(5);
    auto add = [](std::string& s, const duet::Tensor& t) {
      const auto v = t.to(duet::float64).to_vector<double>();
      s.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
    };
    for (const auto& [k, t] : model->state_dict()) add(parts[0], t);
    for (const auto& [k, t] : opt->state_dict().state) add(parts[1], t);
    for (const auto& [k, v] : opt->hyperparameters()) parts[1] += k + std::to_string(v);
    for (const auto& [k, v] : sched->state_dict()) parts[2] += k + std::to_string(v);
    const auto ls = loader->state();
    parts[3] = std::to_string(ls.seed) + "," + std::to_string(ls.epoch) + "," +
               std::to_string(ls.next_batch) + "," + std::to_string(ls.in_epoch);
    for (const auto& st : {duet::default_generator().state(), aug.state()}) {
      parts[4].append(reinterpret_cast<const char*>(st.s), sizeof st.s);
      parts[4] += std::to_string(st.have_spare) + std::to_string(st.spare);
    }
    return parts;
  }
};

// DUET_FUZZ_MAKE_SEEDS=<dir>: writes valid checkpoints for these targets there.
void make_seeds(const char* dir) {
  Targets t;
  duet::manual_seed(3);
  const std::string d = dir;
  duet::train::save_checkpoint(d + "/full.safetensors", t.all());
  t.sched->step();
  t.loader->next();
  t.aug.normal();  // a Box-Muller spare
  auto c = t.all();
  c.epoch = 1;
  c.global_step = 3;
  c.metadata = {{"note", "mid-epoch"}};
  duet::train::save_checkpoint(d + "/mid_epoch.safetensors", c);
  duet::train::save_checkpoint(d + "/weights_only.safetensors",
                               {.model = t.model.get(), .default_generator = false});
}

}  // namespace

extern "C" int DUET_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  duet::fuzz::MemFile* file = &duet::fuzz::loader_file();
  static const bool seeded = [] {
    if (const char* dir = std::getenv("DUET_FUZZ_MAKE_SEEDS")) make_seeds(dir);
    return true;
  }();
  (void)seeded;
  file->write(data, size);
  duet::fuzz::expect_result_or_error("read_checkpoint_info", [&] {
    auto info = duet::train::read_checkpoint_info(file->path());
    DUET_FUZZ_EXPECT(info.epoch >= 0 && info.global_step >= 0, "read_checkpoint_info",
                     "negative epoch or step");
  });
  Targets t;
  const duet::GeneratorState rng = duet::default_generator().state();
  const std::vector<std::string> before = t.fingerprint();
  std::string error;
  const bool ok = duet::fuzz::expect_result_or_error("load_checkpoint", [&] {
    try {
      duet::train::load_checkpoint(file->path(), t.all());
    } catch (const duet::Error& e) {
      error = e.what();
      throw;
    }
  });
  if (!ok) {
    const std::vector<std::string> after = t.fingerprint();
    const char* names[] = {"the model", "the optimizer", "the schedule", "the loader",
                           "a generator"};
    for (size_t i = 0; i < after.size(); ++i)
      DUET_FUZZ_EXPECT(after[i] == before[i], "load_checkpoint",
                       std::string("a failed load changed ") + names[i] + " (" + error + ")");
  }
  duet::default_generator().set_state(rng);  // each input starts from the same state
  return 0;
}

// Seeded random numbers for initialisation, dropout and shuffling.
//
//   duet::Generator gen(42);
//   auto w = duet::Tensor::randn({3, 4}, gen);
//   duet::manual_seed(0);  // reseeds the default generator
//   auto st = gen.state();  // everything the next numbers depend on
//   gen.set_state(st);      // ... restored exactly (checkpoints)
#pragma once

#include <cstdint>

namespace duet {

// Everything a Generator's future output depends on: the xoshiro256** words and the
// Box-Muller spare normal (normal() makes two numbers per pair of uniforms).
struct GeneratorState {
  uint64_t s[4] = {0, 0, 0, 0};
  bool have_spare = false;
  double spare = 0.0;
  bool operator==(const GeneratorState&) const = default;
};

// A small, portable generator (splitmix64-seeded xoshiro256**): the same seed gives the
// same numbers on every platform and standard library.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0x853c49e6748fea9bULL) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next_u64();
  double uniform();            // [0, 1)
  double normal();             // N(0, 1), Box-Muller
  uint64_t below(uint64_t n);  // [0, n)
  GeneratorState state() const;
  // Throws duet::Error for the all-zero word state (xoshiro's one invalid state) or a spare
  // that is not finite.
  void set_state(const GeneratorState& state);

 private:
  uint64_t s_[4];
  bool have_spare_ = false;
  double spare_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace duet

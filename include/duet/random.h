// Seeded random numbers for initialisation, dropout and shuffling.
//
//   duet::Generator gen(42);
//   auto w = duet::Tensor::randn({3, 4}, gen);
//   duet::manual_seed(0);  // reseeds the default generator
#pragma once

#include <cstdint>

namespace duet {

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

 private:
  uint64_t s_[4];
  bool have_spare_ = false;
  double spare_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace duet

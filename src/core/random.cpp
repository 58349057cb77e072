#include "duet/random.h"

#include <cmath>

#include "duet/error.h"

namespace duet {

static uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

void Generator::seed_with(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
  have_spare_ = false;
}

uint64_t Generator::next_u64() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::uniform() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

double Generator::normal() {
  if (have_spare_) {
    have_spare_ = false;
    return spare_;
  }
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * M_PI * u2);
  have_spare_ = true;
  return r * std::cos(2.0 * M_PI * u2);
}

uint64_t Generator::below(uint64_t n) {
  // Lemire's nearly-divisionless method with rejection for exact uniformity.
  uint64_t threshold = (0 - n) % n;
  for (;;) {
    __uint128_t m = static_cast<__uint128_t>(next_u64()) * n;
    if (static_cast<uint64_t>(m) >= threshold) return static_cast<uint64_t>(m >> 64);
  }
}

GeneratorState Generator::state() const {
  GeneratorState st;
  for (int i = 0; i < 4; ++i) st.s[i] = s_[i];
  st.have_spare = have_spare_;
  st.spare = have_spare_ ? spare_ : 0.0;
  return st;
}

void Generator::set_state(const GeneratorState& st) {
  DUET_CHECK((st.s[0] | st.s[1] | st.s[2] | st.s[3]) != 0,
             "Generator::set_state: the state words are all zero (xoshiro256** would only "
             "produce zeros; expected a state from Generator::state())");
  DUET_CHECK(!st.have_spare || std::isfinite(st.spare),
             "Generator::set_state: the spare normal is ", st.spare, " (expected a finite value)");
  for (int i = 0; i < 4; ++i) s_[i] = st.s[i];
  have_spare_ = st.have_spare;
  spare_ = st.have_spare ? st.spare : 0.0;
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}

void manual_seed(uint64_t seed) {
  default_generator().seed_with(seed);
}

}  // namespace duet

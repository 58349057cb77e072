// Generator::state / set_state: the words and the Box-Muller spare restore the sequence
// exactly; invalid states are errors.
#include <cmath>

#include "test_util.h"

using namespace duet;

TEST(GeneratorState, RestoresTheSequenceIncludingTheSpare) {
  Generator g(42);
  g.next_u64();
  g.normal();  // leaves the second normal of the pair as the spare
  const GeneratorState st = g.state();
  EXPECT_TRUE(st.have_spare);
  std::vector<double> want;
  for (int i = 0; i < 5; ++i) want.push_back(g.normal());
  want.push_back(g.uniform());
  Generator h(7);
  h.set_state(st);
  EXPECT_EQ(h.state(), st);
  std::vector<double> got;
  for (int i = 0; i < 5; ++i) got.push_back(h.normal());
  got.push_back(h.uniform());
  EXPECT_EQ(got, want);
  // seed_with drops the spare; state() reports none.
  h.seed_with(1);
  EXPECT_FALSE(h.state().have_spare);
}

TEST(GeneratorState, Errors) {
  Generator g(1);
  const GeneratorState before = g.state();
  GeneratorState zero;
  EXPECT_DUET_ERROR(g.set_state(zero), "Generator::set_state", "all zero");
  GeneratorState inf = before;
  inf.have_spare = true;
  inf.spare = INFINITY;
  EXPECT_DUET_ERROR(g.set_state(inf), "Generator::set_state", "spare normal is inf");
  EXPECT_EQ(g.state(), before);
}

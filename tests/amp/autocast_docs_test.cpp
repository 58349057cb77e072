// docs/mixed_precision.md, "Autocast": the policy table lists exactly the ops whose
// OpDef::autocast is lower / float32, in op-table order. On a mismatch the test prints the
// lines to paste.
#include <fstream>
#include <sstream>

#include "ops/op_def.h"
#include "test_util.h"

using namespace duet;

namespace {

std::string table_line(const char* label, AutocastPolicy policy) {
  std::string line = std::string("| ") + label + " | ";
  bool first = true;
  for (const OpDef* op : all_ops()) {
    if (op->autocast != policy) continue;
    line += (first ? "`" : ", `") + op->name + "`";
    first = false;
  }
  return line + " |";
}

}  // namespace

TEST(AutocastDocs, PolicyTableMatchesTheOps) {
  std::ifstream in(std::string(DUET_SOURCE_DIR) + "/docs/mixed_precision.md");
  ASSERT_TRUE(in) << "docs/mixed_precision.md not found";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const size_t section = doc.find("\n## Autocast\n");
  ASSERT_NE(section, std::string::npos);
  const size_t end = doc.find("\n## ", section + 1);
  const std::string text = doc.substr(section, end - section);
  for (const auto& [label, policy] :
       {std::pair{"lower", AutocastPolicy::lower}, std::pair{"float32", AutocastPolicy::float32}}) {
    const std::string expected = table_line(label, policy);
    const size_t at = text.find(std::string("\n| ") + label + " |");
    ASSERT_NE(at, std::string::npos) << "no '" << label << "' row; expected:\n" << expected;
    const std::string row = text.substr(at + 1, text.find('\n', at + 1) - at - 1);
    EXPECT_EQ(row, expected);
  }
}

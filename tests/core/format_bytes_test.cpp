// format_bytes (issue #13, bug 7): exact bytes below 1 KiB, then 3 significant digits in
// binary units; MemoryReport::str() prints through it.
#include "duet/graph.h"
#include "duet/memory.h"
#include "duet/nn.h"
#include "test_util.h"

using namespace duet;

TEST(FormatBytes, HumanSizes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.00 KiB");
  EXPECT_EQ(format_bytes(82125), "80.2 KiB");
  EXPECT_EQ(format_bytes(1572864), "1.50 MiB");
  EXPECT_EQ(format_bytes(int64_t{123} << 20), "123 MiB");
  EXPECT_EQ(format_bytes((int64_t{1} << 20) - 1), "1.00 MiB");  // rounds up to the next unit
  EXPECT_EQ(format_bytes(int64_t{11} << 30), "11.0 GiB");
  EXPECT_EQ(format_bytes(int64_t{4} << 40), "4.00 TiB");
  EXPECT_EQ(format_bytes(-2048), "-2.00 KiB");
  EXPECT_EQ(format_bytes(INT64_MAX), "8.00 EiB");
  EXPECT_EQ(format_bytes(INT64_MIN), "-8.00 EiB");
}

TEST(FormatBytes, MemoryReportPrintsHumanSizes) {
  Generator gen(0);
  nn::Linear fc(100, 200, true, gen);  // 20,200 floats = 80,800 bytes = 78.9 KiB
  Graph g;
  Tensor y = fc(g.input("x", {8, 100}));
  Executable exe = compile(g, {y});
  const std::string s = exe.memory_report().str();
  EXPECT_EQ(s.rfind("parameters 78.9 KiB, gradients 0 B, optimizer state 0 B, ", 0), 0u) << s;
  EXPECT_EQ(s.find("MiB"), std::string::npos) << s;
}

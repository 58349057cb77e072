// docs/guide.md's snippets, compiled and run (this file and the other files of tests/docs/). Each TEST below holds one ```cpp block of
// the guide line for line (SnippetsAreHere checks that every block of the guide is in this
// file), plus assertions on what the snippet's comments promise.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "duet/duet.h"
#include "duet/io.h"
#include "duet/nn.h"

namespace {

std::vector<std::string> trimmed_lines(const std::string& text) {
  std::vector<std::string> r;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find_first_not_of(" \t");
    if (a == std::string::npos) continue;
    r.push_back(line.substr(a, line.find_last_not_of(" \t") + 1 - a));
  }
  return r;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "cannot read " << path;
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The ```cpp blocks of a markdown text.
std::vector<std::string> cpp_blocks(const std::string& md) {
  std::vector<std::string> blocks;
  std::istringstream in(md);
  std::string line, block;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside && line.rfind("```cpp", 0) == 0) {
      inside = true;
      block.clear();
    } else if (inside && line.rfind("```", 0) == 0) {
      inside = false;
      blocks.push_back(block);
    } else if (inside) {
      block += line + "\n";
    }
  }
  return blocks;
}

}  // namespace

TEST(UserGuide, SnippetsAreHere) {
  // Every file of tests/docs/, one after the other: a block must lie inside one of them.
  std::vector<std::vector<std::string>> sources;
  for (const auto& entry : std::filesystem::directory_iterator(DUET_SOURCE_DIR "/tests/docs"))
    if (entry.path().extension() == ".cpp")
      sources.push_back(trimmed_lines(read_file(entry.path().string())));
  ASSERT_FALSE(sources.empty());
  const std::vector<std::string> blocks = cpp_blocks(read_file(DUET_SOURCE_DIR "/docs/guide.md"));
  ASSERT_GE(blocks.size(), 4u);
  for (const std::string& block : blocks) {
    const std::vector<std::string> want = trimmed_lines(block);
    bool found = false;
    for (const auto& source : sources)
      for (size_t i = 0; !found && i + want.size() <= source.size(); ++i)
        found = std::equal(want.begin(), want.end(), source.begin() + static_cast<long>(i));
    EXPECT_TRUE(found) << "docs/guide.md block not in any file of tests/docs/:\n" << block;
  }
}

TEST(UserGuide, Threads) {
  const int before = duet::num_threads();
  // clang-format off
duet::set_num_threads(1);  // every kernel on the calling thread
duet::set_num_threads(2);  // up to 2 threads: the caller and 1 worker
int n = duet::num_threads();  // 2
  // clang-format on
  EXPECT_EQ(n, 2);
  duet::set_num_threads(before);
}

TEST(UserGuide, ThreadsError) {
  // clang-format off
std::string what;
try {
  duet::set_num_threads(0);
} catch (const duet::Error& e) {
  what = e.what();  // "set_num_threads: the thread count must be at least 1, got 0"
}
  // clang-format on
  EXPECT_NE(what.find("set_num_threads: the thread count must be at least 1, got 0"),
            std::string::npos)
      << what;
}

TEST(UserGuide, CudaAvailability) {
  // clang-format off
std::string why;  // stays empty where CUDA works
if (duet::cuda_available()) {
  duet::Tensor x = duet::Tensor::zeros({2, 3}, duet::float32, duet::cuda);
} else {
  // "the CUDA backend library libduet_cuda.so was not found (looked for ...)",
  // "... no CUDA driver is installed ...", "... no CUDA device is visible ...", ...
  why = duet::cuda_unavailable_reason();
}
  // clang-format on
  EXPECT_EQ(why.empty(), duet::cuda_available()) << why;
}

TEST(UserGuide, Softplus) {
  // clang-format off
duet::Tensor x = duet::Tensor::from_vector({-2.0f, 0.0f, 3.0f}, {3}).requires_grad_();
duet::Tensor y = duet::softplus(x, /*beta=*/2.0, /*threshold=*/20.0);
duet::sum(y).backward();  // x.grad() = sigmoid(beta x)
duet::nn::Softplus layer(/*beta=*/1.0, /*threshold=*/20.0);
duet::Tensor z = layer.forward(x);
  // clang-format on
  const std::vector<float> xs = {-2.0f, 0.0f, 3.0f};
  const std::vector<float> ys = y.to_vector<float>(), gs = x.grad().to_vector<float>(),
                           zs = z.to_vector<float>();
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_NEAR(ys[i], std::log1p(std::exp(2.0 * xs[i])) / 2.0, 1e-6);
    EXPECT_NEAR(gs[i], 1.0 / (1.0 + std::exp(-2.0 * xs[i])), 1e-6);
    EXPECT_NEAR(zs[i], std::log1p(std::exp(xs[i])), 1e-6);
  }
}

TEST(UserGuide, UntrustedFiles) {
  // A safetensors file whose header nests 100,000 levels deep (it used to overflow the stack).
  const std::string downloaded_path =
      ::testing::TempDir() + "/user_guide_hostile_" + std::to_string(::getpid()) + ".safetensors";
  {
    std::string header = "{\"w\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
    header.append((8 - header.size() % 8) % 8, ' ');
    std::ofstream f(downloaded_path, std::ios::binary);
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>(n >> (8 * i)));
    f << header;
  }
  // clang-format off
std::string what;
try {
  duet::nn::StateDict sd = duet::io::load_safetensors(downloaded_path);
} catch (const duet::Error& e) {
  what = e.what();  // "load_safetensors: '<path>': the header is not a safetensors header: ..."
}
  // clang-format on
  std::remove(downloaded_path.c_str());
  EXPECT_NE(what.find("load_safetensors: '" + downloaded_path + "': the header is not a "
                      "safetensors header"),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("nests more than 3 levels"), std::string::npos) << what;
  EXPECT_LT(what.size(), 2000u);

  // clang-format off
try {
  duet::Tensor t = duet::Tensor::zeros({int64_t{1} << 40, int64_t{1} << 40});
} catch (const duet::Error& e) {
  what = e.what();  // "zeros: shape (1099511627776, 1099511627776) has more elements than ..."
}
duet::set_memory_limit(duet::cpu, int64_t{1} << 30);  // beyond 1 GiB: a duet::Error
  // clang-format on
  EXPECT_EQ(what.rfind("zeros: shape (1099511627776, 1099511627776) has more elements than", 0),
            0u)
      << what;
  std::string over_limit;
  try {
    duet::Tensor big = duet::Tensor::empty({int64_t{1} << 29}, duet::float32);  // 2 GiB
  } catch (const duet::Error& e) {
    over_limit = e.what();
  }
  duet::set_memory_limit(duet::cpu, 0);  // no limit again
  EXPECT_NE(over_limit.find("set_memory_limit"), std::string::npos) << over_limit;
  duet::Tensor ok = duet::Tensor::empty({int64_t{1} << 20}, duet::float32);  // 4 MiB is fine
  EXPECT_EQ(ok.numel(), int64_t{1} << 20);
}

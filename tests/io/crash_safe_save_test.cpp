// save_safetensors survives a crash: a writer killed (SIGKILL) in the middle of a save leaves
// the previous file intact, and concurrent writers to one path never collide on a temporary
// name (issue #19, item 5).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "duet/io.h"
#include "io_test_util.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;
namespace fs = std::filesystem;

namespace {

// Files in `dir` whose name starts with `prefix`.
std::vector<fs::path> files_starting_with(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  return out;
}

bool same_dict(const nn::StateDict& a, const nn::StateDict& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || a[i].second.shape() != b[i].second.shape()) return false;
    if (a[i].second.to_vector<float>() != b[i].second.to_vector<float>()) return false;
  }
  return true;
}

nn::StateDict big_dict(float value) {  // 4 x 8 MiB of float32
  nn::StateDict sd;
  for (int i = 0; i < 4; ++i)
    sd.emplace_back("layer" + std::to_string(i), Tensor::full({1 << 21}, value + i));
  return sd;
}

TEST(CrashSafeSave, KilledMidSaveLeavesThePreviousFileIntact) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  const nn::StateDict original = {{"a", Tensor::arange(1000, float32)}, {"b", Tensor::ones({7})}};
  io::save_safetensors(path, original);
  const nn::StateDict big = big_dict(3.f);

  int mid_save_kills = 0;
  for (int round = 0; round < 3; ++round) {
    io::save_safetensors(path, original);  // the "previous file" of this round
    std::fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        for (;;) io::save_safetensors(path, big);
      } catch (...) {
        _exit(3);
      }
    }
    // Wait (bounded) for the child's temporary file to appear, then kill it at once.
    bool seen = false;
    for (int i = 0; i < 200000 && !seen; ++i) {
      seen = !files_starting_with(dir.path(), "w.safetensors.tmp.").empty();
      if (!seen) usleep(50);
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer ended by itself, status " << status;
    ASSERT_TRUE(seen) << "no temporary file appeared";

    // Whatever the moment of the kill, `path` is a complete file: the previous one, or (if
    // the child finished a save first) the complete new one. Never a torn mix.
    const nn::StateDict back = io::load_safetensors(path);
    const bool is_original = same_dict(back, original);
    EXPECT_TRUE(is_original || same_dict(back, big)) << "round " << round;
    mid_save_kills += is_original;
    // The killed writer's temporary stays behind (nobody can remove it); it never replaces
    // `path` and a later save does not trip over it.
    for (const fs::path& tmp : files_starting_with(dir.path(), "w.safetensors.tmp."))
      fs::remove(tmp);
  }
  // At least one kill landed before the first rename of its round (a 32 MiB save with fsync
  // takes far longer than noticing its temporary file).
  EXPECT_GE(mid_save_kills, 1);
  EXPECT_TRUE(same_dict(io::load_safetensors(path), original) ||
              same_dict(io::load_safetensors(path), big));
}

TEST(CrashSafeSave, ConcurrentWritersToOnePathBothSucceed) {
  TempDir dir;
  const std::string path = dir.file("c.safetensors");
  const nn::StateDict a = big_dict(1.f), b = {{"small", Tensor::full({1000}, 2.0)}};
  std::atomic<int> errors{0};
  auto writer = [&](const nn::StateDict& sd) {
    for (int i = 0; i < 5; ++i) {
      try {
        io::save_safetensors(path, sd);
      } catch (const Error& e) {
        ++errors;
        ADD_FAILURE() << e.what();
      }
    }
  };
  std::thread t1(writer, std::cref(a)), t2(writer, std::cref(b));
  t1.join();
  t2.join();
  EXPECT_EQ(errors.load(), 0);
  const nn::StateDict back = io::load_safetensors(path);
  EXPECT_TRUE(same_dict(back, a) || same_dict(back, b));
  EXPECT_TRUE(files_starting_with(dir.path(), "c.safetensors.tmp.").empty());

  // Two processes.
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      for (int i = 0; i < 5; ++i) io::save_safetensors(path, b);
    } catch (...) {
      _exit(1);
    }
    _exit(0);
  }
  writer(a);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const nn::StateDict back2 = io::load_safetensors(path);
  EXPECT_TRUE(same_dict(back2, a) || same_dict(back2, b));
  EXPECT_TRUE(files_starting_with(dir.path(), "c.safetensors.tmp.").empty());
}

TEST(CrashSafeSave, SavedFileHasTheUsualMode) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  const mode_t old = umask(022);
  io::save_safetensors(path, {{"a", Tensor::ones({2})}});
  umask(old);
  const auto perms = fs::status(path).permissions();
  EXPECT_EQ(perms, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                       fs::perms::others_read);
}

TEST(CrashSafeSave, FailedSaveRemovesItsTemporary) {
  TempDir dir;
  const std::string path = dir.file("d");
  fs::create_directories(path);  // renaming a file over a directory fails
  EXPECT_DUET_ERROR(io::save_safetensors(path, {{"a", Tensor::ones({2})}}), "save_safetensors",
                    "cannot rename");
  EXPECT_TRUE(files_starting_with(dir.path(), "d.tmp.").empty());
  EXPECT_TRUE(fs::is_directory(path));
}

}  // namespace

// duet::Error: the one exception type a user sees.
//
//   try {
//     auto y = duet::matmul(a, b);
//   } catch (const duet::Error& e) {
//     std::cerr << e.what() << "\n";  // "matmul: ... expected ..."
//   }
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace duet {

// Thrown for every user mistake: wrong shape, dtype, device, rank, bad file, bad argument.
// The message names the op (or file), the values involved, and what was expected.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void internal_error(const char* file, int line, const std::string& msg);
// A string from a hostile source (an attribute of an ONNX file, a fuzzer's input) quoted for an
// error message: 'text', or its first 64 characters as 'text...' (N characters).
inline std::string quoted_excerpt(const std::string& s) {
  if (s.size() <= 64) return "'" + s + "'";
  return "'" + s.substr(0, 64) + "...' (" + std::to_string(s.size()) + " characters)";
}
}  // namespace detail

}  // namespace duet

// DUET_CHECK(cond, parts...): user-facing check; throws duet::Error with the parts concatenated.
#define DUET_CHECK(cond, ...)                                           \
  do {                                                                  \
    if (!(cond)) throw ::duet::Error(::duet::detail::cat(__VA_ARGS__)); \
  } while (0)

// DUET_ASSERT(cond, parts...): internal invariant; the message carries file and line.
#define DUET_ASSERT(cond, ...)                                                            \
  do {                                                                                    \
    if (!(cond))                                                                          \
      ::duet::detail::internal_error(__FILE__, __LINE__,                                  \
                                     ::duet::detail::cat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)

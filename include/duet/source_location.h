// Where model code created a graph node. Public op functions and Module::operator() take a
// defaulted std::source_location; nested library calls keep the innermost *model-code*
// location (files outside duet's own src/, kernels/ and include/duet/ trees).
//
//   duet::LocationScope scope(std::source_location::current());  // rarely needed by users
#pragma once

#include <source_location>
#include <string>

namespace duet {

struct SourceLoc {
  const char* file = "";
  unsigned line = 0;
  const char* function = "";
  bool known() const { return line != 0; }
  std::string str() const;  // "file.cpp:42" (basename of the file), or "<unknown>"
};

// Pushes a location for the duration of a scope (thread-local). Locations inside duet's own
// library sources are ignored when a node asks for current_location().
class LocationScope {
 public:
  explicit LocationScope(const std::source_location& loc);
  ~LocationScope();
  LocationScope(const LocationScope&) = delete;
  LocationScope& operator=(const LocationScope&) = delete;

 private:
  bool pushed_ = false;
};

// The innermost model-code location on this thread's stack, or an unknown location.
SourceLoc current_location();

}  // namespace duet

# Compiler warnings of duet's own targets: libduet, the CUDA backend's C++ and every program
# under tests/, examples/ and bench/ (top-level CMakeLists.txt calls duet_warnings on each).
# g++ 12 and clang 19 build the tree without a warning; -DDUET_WERROR=ON (CI) keeps it so.
#
#   cmake -S . -B build -DDUET_WERROR=ON
option(DUET_WERROR "Treat compiler warnings as errors in duet's own targets" OFF)

set(DUET_WARNINGS -Wall -Wextra -Wno-unused-parameter)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  # clang 19's -march=native maps some hosts' CPUID (Sapphire Rapids VMs) to "+avx10.1-256"
  # and warns on every file that it is promoted to avx10.1-512; the code it emits is right.
  list(APPEND DUET_WARNINGS -Wno-invalid-feature-combination)
  # libstdc++ 12's std::stable_sort calls get_temporary_buffer, deprecated in C++20, and clang
  # reports it at each instantiation (libstdc++ 13 no longer does). Only where that happens.
  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-std=c++20 -Werror=deprecated-declarations")
  check_cxx_source_compiles("#include <algorithm>
    #include <vector>
    int main() { std::vector<int> v{2, 1}; std::stable_sort(v.begin(), v.end()); }"
    DUET_STABLE_SORT_NOT_DEPRECATED)
  unset(CMAKE_REQUIRED_FLAGS)
  if(NOT DUET_STABLE_SORT_NOT_DEPRECATED)
    list(APPEND DUET_WARNINGS -Wno-deprecated-declarations)
  endif()
  # Designated initialisers that leave out members with defaults are how duet's option structs
  # are meant to be used (`GraphOptions{.mode = ...}`); clang 19 -Wextra warns for each.
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-Wmissing-designated-field-initializers
                          DUET_HAVE_WMISSING_DESIGNATED)
  if(DUET_HAVE_WMISSING_DESIGNATED)
    list(APPEND DUET_WARNINGS -Wno-missing-designated-field-initializers)
  endif()
  if(DUET_SANITIZE)
    # DUET_SANITIZE_OPT (-O1) runs no loop vectoriser, so clang warns at every `omp simd`.
    list(APPEND DUET_WARNINGS -Wno-pass-failed)
  endif()
endif()
if(DUET_WERROR)
  list(APPEND DUET_WARNINGS -Werror)
endif()

function(duet_warnings target)
  foreach(_f ${DUET_WARNINGS})
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${_f}>)
  endforeach()
endfunction()

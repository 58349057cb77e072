# Compiler warnings of duet's own targets: libduet, the CUDA backend's C++ and every program
# under tests/, examples/ and bench/ (top-level CMakeLists.txt calls duet_warnings on each).
# g++ 12 and clang 19 build the tree without a warning; -DDUET_WERROR=ON (CI) keeps it so.
#
#   cmake -S . -B build -DDUET_WERROR=ON
option(DUET_WERROR "Treat compiler warnings as errors in duet's own targets" OFF)

set(DUET_WARNINGS -Wall -Wextra -Wno-unused-parameter)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # g++ 12 warns for designated initialisers that leave out members with defaults, which is
  # how duet's option structs are meant to be used (`GraphOptions{.mode = ...}`).
  list(APPEND DUET_WARNINGS -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 at -O3: false -Wrestrict inside std::string's operator+ (GCC bug 105651).
    list(APPEND DUET_WARNINGS -Wno-restrict)
  endif()
endif()
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
  # Designated initialisers (as for g++ above): clang 19 has a flag for just those.
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-Wmissing-designated-field-initializers
                          DUET_HAVE_WMISSING_DESIGNATED)
  if(DUET_HAVE_WMISSING_DESIGNATED)
    list(APPEND DUET_WARNINGS -Wno-missing-designated-field-initializers)
  endif()
  # `omp simd` is a hint: clang cannot vectorise loops calling libm (the activations' exp, tanh,
  # erf without a vector math library) and, at DUET_SANITIZE_OPT's -O1, any loop at all.
  list(APPEND DUET_WARNINGS -Wno-pass-failed)
endif()
if(DUET_WERROR)
  list(APPEND DUET_WARNINGS -Werror)
endif()

function(duet_warnings target)
  foreach(_f ${DUET_WARNINGS})
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${_f}>)
  endforeach()
endfunction()

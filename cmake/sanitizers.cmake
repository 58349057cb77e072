# Sanitizer builds (issue #19): -DDUET_SANITIZE=address,undefined builds libduet, the tests,
# the examples and the benchmarks with AddressSanitizer + UndefinedBehaviorSanitizer (g++ 12 or
# clang 19). Any -fsanitize= list works (e.g. "undefined" alone); empty: no sanitizer.
#
#   cmake -S . -B build-asan -DDUET_SANITIZE=address,undefined -DDUET_CUDA=OFF
#   scripts/sanitize.sh          # configures, builds and runs ctest under the sanitizers
#
# - Every target of the tree gets the flags (add_compile_options/add_link_options before any
#   target is defined), so the fuzz targets (DUET_FUZZ adds -fsanitize=fuzzer on top) compose.
# - UB is fatal (-fno-sanitize-recover=undefined): a UBSan report fails the test.
# - Optimisation: DUET_SANITIZE_OPT (default -O1) replaces -O3 and -g1 gives line numbers in
#   the reports; NDEBUG stays as in Release.
# - Runtime defaults are compiled into every program that links duet (sanitizer_options.cpp,
#   an INTERFACE source of duet in the build tree only): halt on the first error, UBSan stack
#   traces, leak detection on. ASAN_OPTIONS / UBSAN_OPTIONS in the environment override them.
#   The CPU caching allocator and the thread pool are leaked on purpose at exit; they stay
#   reachable from globals, so LeakSanitizer does not report them.
# - Tests that cannot run under the sanitizers are not registered (tests/CMakeLists.txt checks
#   DUET_SANITIZE): the consumer builds (an outside, uninstrumented project) and the CUDA tests.
set(DUET_SANITIZE "" CACHE STRING
    "Build everything with these sanitizers (-fsanitize= list, e.g. address,undefined)")
set(DUET_SANITIZE_OPT "-O1" CACHE STRING "Optimisation level of a DUET_SANITIZE build")

if(DUET_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "DUET_SANITIZE needs g++ or clang++ (got ${CMAKE_CXX_COMPILER_ID})")
  endif()
  set(_duet_san_flags -fsanitize=${DUET_SANITIZE} -fno-omit-frame-pointer -g1
                      ${DUET_SANITIZE_OPT})
  if(DUET_SANITIZE MATCHES "undefined")
    list(APPEND _duet_san_flags -fno-sanitize-recover=undefined)
  endif()
  foreach(_f ${_duet_san_flags})
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:${_f}>)
  endforeach()
  add_link_options(-fsanitize=${DUET_SANITIZE})
  if(DUET_CUDA)
    message(WARNING "duet: DUET_SANITIZE with DUET_CUDA: the CUDA tests are not registered "
                    "(the sanitizer runtimes and the CUDA driver do not mix); use -DDUET_CUDA=OFF")
  endif()
  message(STATUS "duet: sanitizers ${DUET_SANITIZE} (${_duet_san_flags})")
endif()

# Adds the runtime defaults to every program linking duet (called once duet exists).
function(duet_sanitizer_defaults target)
  if(DUET_SANITIZE)
    target_sources(${target} INTERFACE
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/cmake/sanitizer_options.cpp>)
  endif()
endfunction()

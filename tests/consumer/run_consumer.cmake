# cmake -DMODE=subdirectory|package -DSRC=<duet source> -DBIN=<duet build> -DWORK=<scratch>
#       -P run_consumer.cmake
# Configures, builds and runs tests/consumer against duet in the given mode, then checks the
# run-time CUDA backend (docs/cuda.md, "The backend library"):
#   1. ldd: neither the consumer nor the libduet it runs with needs a CUDA library;
#   2. the backend hidden (DUET_CUDA_BACKEND=<missing file>): the CPU program runs with no
#      CUDA library mapped (/proc/self/maps) and the loader says "not found", through
#      cuda_unavailable_reason() and the device error;
#   3. a file that is not a library first on DUET_BACKEND_PATH: "could not be loaded";
#   4. the default search: where libduet_cuda.so sits beside libduet (package mode with
#      DUET_CUDA), it loads and the reason is the driver or the device, never "not found";
#      where none was built (subdirectory mode is CPU only), "not found".
# Prints "consumer checks ok" at the end (the ctest pass expression).
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
if(MODE STREQUAL "subdirectory")
  # CPU only: this mode checks the CMake integration; the package mode installs the CUDA build.
  set(args -DDUET_SOURCE_DIR=${SRC} -DDUET_CUDA=OFF)
elseif(MODE STREQUAL "package")
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${BIN} --prefix ${WORK}/prefix
                  RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "cmake --install failed: ${rc}")
  endif()
  set(args -DCMAKE_PREFIX_PATH=${WORK}/prefix)
else()
  message(FATAL_ERROR "MODE must be subdirectory or package")
endif()
foreach(step
    "${CMAKE_COMMAND};-S;${SRC}/tests/consumer;-B;${WORK}/build;-DCMAKE_BUILD_TYPE=Release;${args}"
    "${CMAKE_COMMAND};--build;${WORK}/build;-j2")
  execute_process(COMMAND ${step} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "step failed (${rc}): ${step}\n${out}\n${err}")
  endif()
endforeach()
set(consumer ${WORK}/build/consumer)

# Runs the consumer with the environment `env` (a list of NAME=VALUE); sets `out`.
function(run_consumer what)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${ARGN} ${consumer}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
  if(rc OR NOT o MATCHES "consumer ok")
    message(FATAL_ERROR "consumer (${what}) failed (${rc}):\n${o}\n${e}")
  endif()
  string(REGEX MATCH "cuda [^\n]*" cuda_line "${o}")
  string(REGEX MATCH "device error: [^\n]*" error_line "${o}")
  string(REGEX MATCH "mapped CUDA libraries: [^\n]*" mapped_line "${o}")
  message(STATUS "${what}:\n  ${cuda_line}\n  ${error_line}\n  ${mapped_line}")
  set(out "${o}" PARENT_SCOPE)
endfunction()

# 1. No CUDA library in the consumer or in the libduet it loads.
execute_process(COMMAND ldd ${consumer} RESULT_VARIABLE rc OUTPUT_VARIABLE ldd_consumer)
if(rc)
  message(FATAL_ERROR "ldd ${consumer} failed (${rc})")
endif()
string(REGEX MATCH "libduet\\.so[^ \t]* => ([^ \t]+)" _ "${ldd_consumer}")
set(libduet ${CMAKE_MATCH_1})
if(MODE STREQUAL "package" AND NOT SHARED)  # -DDUET_SHARED=OFF: libduet.a, CPU only
  if(ldd_consumer MATCHES "libcuda\\.|libcudart|libcublas|libcudnn")
    message(FATAL_ERROR "the consumer needs a CUDA library:\n${ldd_consumer}")
  endif()
  run_consumer("static libduet")
  if(NOT out MATCHES "cuda unavailable: this libduet is a static library")
    message(FATAL_ERROR "expected the static library's message:\n${out}")
  endif()
  message(STATUS "consumer checks ok (${MODE}, static libduet)")
  return()
endif()
if(NOT EXISTS "${libduet}")
  message(FATAL_ERROR "the consumer does not load libduet.so (ldd):\n${ldd_consumer}")
endif()
execute_process(COMMAND ldd ${libduet} OUTPUT_VARIABLE ldd_libduet)
set(cuda_libs "libcuda\\.|libcudart|libcublas|libcudnn|libnvrtc|libnvJitLink")
foreach(who consumer libduet)
  if(ldd_${who} MATCHES "${cuda_libs}")
    message(FATAL_ERROR "${who} needs a CUDA library (${CMAKE_MATCH_0}):\n${ldd_${who}}")
  endif()
endforeach()
file(SIZE ${consumer} consumer_bytes)
file(SIZE ${libduet} libduet_bytes)
message(STATUS "ldd: no CUDA library in ${consumer} (${consumer_bytes} bytes) or ${libduet} "
               "(${libduet_bytes} bytes)")

# 2. The backend hidden: CPU work runs, the loader says it found nothing.
run_consumer("backend hidden" DUET_CUDA_BACKEND=${WORK}/hidden/libduet_cuda.so)
if(NOT out MATCHES "cuda unavailable: the CUDA backend library was not found: DUET_CUDA_BACKEND="
   OR NOT out MATCHES "device error: device cuda:0 is not available: the CUDA backend library was not found")
  message(FATAL_ERROR "expected the loader's 'not found' message:\n${out}")
endif()
if(NOT out MATCHES "mapped CUDA libraries: none")  # it ran without any CUDA library
  message(FATAL_ERROR "CUDA libraries were loaded although the backend was hidden:\n${out}")
endif()

# 3. Not a library, first on DUET_BACKEND_PATH: found, but it cannot be loaded.
file(WRITE ${WORK}/bad/libduet_cuda.so "not a shared library\n")
run_consumer("unloadable backend" DUET_BACKEND_PATH=${WORK}/bad)
if(NOT out MATCHES "cuda unavailable: the CUDA backend library ${WORK}/bad/libduet_cuda.so could not be loaded: ")
  message(FATAL_ERROR "expected the loader's 'could not be loaded' message:\n${out}")
endif()

# 4. The default search: beside libduet.
get_filename_component(libdir ${libduet} DIRECTORY)
run_consumer("default search")
if(EXISTS ${libdir}/libduet_cuda.so)
  if(out MATCHES "not found" OR NOT out MATCHES
     "cuda available|no CUDA driver|the CUDA driver|no CUDA device is visible")
    message(FATAL_ERROR "${libdir}/libduet_cuda.so is there: expected it to load and report "
                        "the driver or the device:\n${out}")
  endif()
  if(NOT out MATCHES "cuda available" AND NOT out MATCHES "CUDA backend: ${libdir}/libduet_cuda.so")
    message(FATAL_ERROR "expected the reason to name ${libdir}/libduet_cuda.so:\n${out}")
  endif()
elseif(NOT out MATCHES "cuda unavailable: the CUDA backend library libduet_cuda.so was not found")
  message(FATAL_ERROR "no libduet_cuda.so beside ${libduet}: expected 'not found':\n${out}")
endif()
message(STATUS "consumer checks ok (${MODE})")

# cmake -DMODE=subdirectory|package -DSRC=<duet source> -DBIN=<duet build> -DWORK=<scratch>
#       -P run_consumer.cmake
# Configures, builds and runs tests/consumer against duet in the given mode.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
if(MODE STREQUAL "subdirectory")
  # CPU only: this mode checks the CMake integration; the package mode links the CUDA build.
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
    "${CMAKE_COMMAND};--build;${WORK}/build;-j2"
    "${WORK}/build/consumer")
  execute_process(COMMAND ${step} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "step failed (${rc}): ${step}\n${out}\n${err}")
  endif()
endforeach()
message(STATUS "${out}")

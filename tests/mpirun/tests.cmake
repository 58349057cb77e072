# Multi-process tests: each tests/mpirun/<name>_test.cpp is its own GoogleTest program,
# run by ctest as `mpirun -np 2` (scripts/mpirun_test.sh: --allow-run-as-root, --oversubscribe,
# a timeout) under the name mpirun.<name>, label "distributed". Without MPI (no mpirun, or
# libduet_mpi.so not built) they are not registered. Extra registrations (expected failures,
# other rank counts) go in tests/mpirun/*.cmake; gloo.cmake (Gloo's own launcher, no MPI) is
# included first, whatever MPI's state.
include(${CMAKE_CURRENT_LIST_DIR}/gloo.cmake)
if(NOT TARGET duet_mpi)
  message(STATUS "duet: multi-process tests off (libduet_mpi.so is not built)")
  return()
endif()
find_program(DUET_MPIRUN NAMES mpirun mpiexec)
if(NOT DUET_MPIRUN)
  message(STATUS "duet: multi-process tests off (no mpirun)")
  return()
endif()
file(GLOB _mp_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*_test.cpp)
foreach(_src ${_mp_srcs})
  get_filename_component(_name ${_src} NAME_WE)
  string(REGEX REPLACE "_test$" "" _name ${_name})
  add_executable(duet_mp_${_name} ${_src})
  target_include_directories(duet_mp_${_name} PRIVATE ${PROJECT_SOURCE_DIR}/src
                             ${PROJECT_SOURCE_DIR}/kernels ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(duet_mp_${_name} PRIVATE duet::duet GTest::gtest_main)
  target_compile_definitions(duet_mp_${_name} PRIVATE
    DUET_SOURCE_DIR="${PROJECT_SOURCE_DIR}" DUET_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_dependencies(duet_mp_${_name} duet_mpi)
  add_test(NAME mpirun.${_name}
           COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/mpirun_test.sh 2
                   $<TARGET_FILE:duet_mp_${_name}>)
  # Two ranks on two cores: one such test at a time.
  set_tests_properties(mpirun.${_name} PROPERTIES LABELS distributed PROCESSORS 2
                       RESOURCE_LOCK mpirun TIMEOUT 600)
endforeach()
# An expected failure on 2 ranks: PROGRAM (a target) run with MODE under mpirun must end with
# a nonzero status and print a line matching REGEX (an extended regex;
# tests/mpirun/expect_failure.sh), with DUET_DIST_TIMEOUT=TIMEOUT seconds; ctest's TIMEOUT
# catches a hang.
function(duet_mp_failure name program mode timeout regex)
  add_test(NAME mpirun.failure.${name}
           COMMAND bash ${PROJECT_SOURCE_DIR}/tests/mpirun/expect_failure.sh "${regex}"
                   bash ${PROJECT_SOURCE_DIR}/scripts/mpirun_test.sh 2
                   $<TARGET_FILE:${program}> ${mode})
  set_tests_properties(mpirun.failure.${name} PROPERTIES LABELS distributed PROCESSORS 2
                       RESOURCE_LOCK mpirun TIMEOUT 60
                       ENVIRONMENT "DUET_DIST_TIMEOUT=${timeout};DUET_MPIRUN_TIMEOUT=50")
endfunction()
file(GLOB _mp_extra CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cmake)
foreach(_f ${_mp_extra})
  get_filename_component(_fname ${_f} NAME)
  if(NOT _fname STREQUAL "tests.cmake" AND NOT _fname STREQUAL "gloo.cmake")
    include(${_f})
  endif()
endforeach()

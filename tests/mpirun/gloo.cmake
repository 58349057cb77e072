# The Gloo engine on two processes launched like torchrun (scripts/gloo_test.sh: RANK,
# WORLD_SIZE, MASTER_ADDR=127.0.0.1, a free MASTER_PORT, a timeout), label "distributed":
#   gloo.collectives   every collective against hand values (tests/mpirun/gloo/gloo_ranks.cpp)
#   gloo.collectives_3 the same on 3 ranks (a ring that is no power of two), without
#                      LOCAL_RANK (the ranks work out their local rank from host names)
#   gloo.peer_exit     rank 1 exits; rank 0's all_reduce fails with a duet::Error
#   gloo.peer_silent   rank 1 stays silent; rank 0's all_reduce fails at the 2 s timeout
#   gloo.mp_<name>     the MPI suites tests/mpirun/<name>_test.cpp (collectives, DDP eager and
#                      graph equivalence, fit, SyncBatchNorm2d; not shutdown: MPI-only)
#                      again over Gloo: init() picks Gloo from RANK/WORLD_SIZE
if(NOT TARGET duet_gloo)
  message(STATUS "duet: Gloo multi-process tests off (libduet_gloo.so is not built)")
  return()
endif()
add_executable(duet_gloo_ranks ${CMAKE_CURRENT_LIST_DIR}/gloo/gloo_ranks.cpp)
target_include_directories(duet_gloo_ranks PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(duet_gloo_ranks PRIVATE duet::duet GTest::gtest)
duet_warnings(duet_gloo_ranks)
add_dependencies(duet_gloo_ranks duet_gloo)
set(_gloo_run bash ${PROJECT_SOURCE_DIR}/scripts/gloo_test.sh 2 $<TARGET_FILE:duet_gloo_ranks>)
add_test(NAME gloo.collectives COMMAND ${_gloo_run})
add_test(NAME gloo.collectives_3 COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/gloo_test.sh 3
                                         $<TARGET_FILE:duet_gloo_ranks>)
set_tests_properties(gloo.collectives_3 PROPERTIES ENVIRONMENT DUET_GLOO_SET_LOCAL_RANK=0)
add_test(NAME gloo.peer_exit COMMAND ${_gloo_run})
add_test(NAME gloo.peer_silent COMMAND ${_gloo_run})
set_tests_properties(gloo.peer_exit PROPERTIES ENVIRONMENT DUET_GLOO_TEST_MODE=peer_exit)
set_tests_properties(gloo.peer_silent PROPERTIES ENVIRONMENT DUET_GLOO_TEST_MODE=peer_silent)
set_tests_properties(gloo.collectives gloo.collectives_3 gloo.peer_exit gloo.peer_silent PROPERTIES
                     LABELS distributed PROCESSORS 2 RESOURCE_LOCK mpirun TIMEOUT 300)
# The MPI suites exist only later in tests/mpirun/tests.cmake (and only with MPI): registered at
# the end of this directory.
function(duet_gloo_register_mp_suites)
  foreach(_suite collectives ddp_eager ddp_graph fit sync_batch_norm)
    if(TARGET duet_mp_${_suite})
      add_test(NAME gloo.mp_${_suite}
               COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/gloo_test.sh 2
                       $<TARGET_FILE:duet_mp_${_suite}>)
      set_tests_properties(gloo.mp_${_suite} PROPERTIES LABELS distributed PROCESSORS 2
                           RESOURCE_LOCK mpirun TIMEOUT 300)
    endif()
  endforeach()
endfunction()
cmake_language(DEFER CALL duet_gloo_register_mp_suites)
# The single-process Gloo tests (tests/distributed/gloo_env_test.cpp) load the plugin.
if(TARGET duet_test_distributed)
  add_dependencies(duet_test_distributed duet_gloo)
endif()

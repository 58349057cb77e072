# Failures on 2 ranks (tests/mpirun/failure_prog.cpp): a rank that never joins, throws or
# exits makes the job end with a nonzero status and a message naming what happened, never a
# hang. tests/mpirun/expect_failure.sh checks the status and the message; ctest's TIMEOUT
# catches a hang.
add_executable(duet_mp_failure_prog ${CMAKE_CURRENT_LIST_DIR}/failure_prog.cpp)
target_link_libraries(duet_mp_failure_prog PRIVATE duet::duet)
add_dependencies(duet_mp_failure_prog duet_mpi)

# duet_mp_failure (tests.cmake): name, program, mode, timeout (s), what the output must contain.
# Rank 0 times out after 3 s while rank 1 sleeps 20 s.
duet_mp_failure(timeout duet_mp_failure_prog timeout 3
  "rank 0 caught: distributed: all_reduce \\(float32, 1000 elements\\) on rank 0 of 2 did not complete within 3 s: a peer may have exited, hung or called a different collective")
duet_mp_failure(broken duet_mp_failure_prog broken 3
  "rank 0 caught again at once: distributed: barrier: the process group is broken by an earlier failure \\(distributed: all_reduce .*did not complete within 3 s")
duet_mp_failure(noinit duet_mp_failure_prog noinit 3
  "rank 0 caught: distributed: init\\(mpi\\) did not complete within 3 s: the engine's start-up waits for every rank")
# Rank 0's timeout (40 s) is longer than ctest's bound: only mpirun ending the job passes.
duet_mp_failure(throw duet_mp_failure_prog throw 40 "rank 1 fails on purpose before all_reduce")
duet_mp_failure(exit duet_mp_failure_prog exit 40 "rank 1 exits with status 1 on purpose before all_reduce")

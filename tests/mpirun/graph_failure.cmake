# Graph-mode data parallelism when a peer stops (tests/mpirun/graph_failure_prog.cpp): the
# all_reduce_wait node of the compiled step fails with the timeout error naming the bucket;
# the job ends with a nonzero status, never a hang.
add_executable(duet_mp_graph_failure_prog ${CMAKE_CURRENT_LIST_DIR}/graph_failure_prog.cpp)
target_include_directories(duet_mp_graph_failure_prog PRIVATE ${PROJECT_SOURCE_DIR}/src
                           ${PROJECT_SOURCE_DIR}/kernels ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(duet_mp_graph_failure_prog PRIVATE duet::duet)
add_dependencies(duet_mp_graph_failure_prog duet_mpi)
duet_mp_failure(graph_timeout duet_mp_graph_failure_prog timeout 3
  "rank 0 caught: .*all_reduce_wait: bucket 0 \\(float32, [0-9]+ elements, tag [0-9]+\\): .*did not complete within 3 s")

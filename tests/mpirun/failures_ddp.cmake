# DistributedDataParallel failure on 2 ranks (ddp_failure_prog.cpp): a rank whose backward
# throws makes the other's backward fail with the bucket's timeout error, no hang.
add_executable(duet_mp_ddp_failure_prog ${CMAKE_CURRENT_LIST_DIR}/ddp_failure_prog.cpp)
target_link_libraries(duet_mp_ddp_failure_prog PRIVATE duet::duet)
add_dependencies(duet_mp_ddp_failure_prog duet_mpi)
add_test(NAME mpirun.failure.ddp_backward_throws
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/expect_failure.sh
                 "rank 0 caught: distributed: DistributedDataParallel: all_reduce of gradient bucket 0 \\(float32, 26 elements\\) on rank 0 of 2 did not complete within 3 s"
                 bash ${PROJECT_SOURCE_DIR}/scripts/mpirun_test.sh 2
                 $<TARGET_FILE:duet_mp_ddp_failure_prog> backward_throws)
set_tests_properties(mpirun.failure.ddp_backward_throws PROPERTIES LABELS distributed
                     PROCESSORS 2 RESOURCE_LOCK mpirun TIMEOUT 60
                     ENVIRONMENT "DUET_DIST_TIMEOUT=3;DUET_MPIRUN_TIMEOUT=50")

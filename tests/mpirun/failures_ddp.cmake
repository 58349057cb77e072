# DistributedDataParallel failure on 2 ranks (ddp_failure_prog.cpp): a rank whose backward
# throws makes the other's backward fail with the bucket's timeout error, no hang.
add_executable(duet_mp_ddp_failure_prog ${CMAKE_CURRENT_LIST_DIR}/ddp_failure_prog.cpp)
target_link_libraries(duet_mp_ddp_failure_prog PRIVATE duet::duet)
add_dependencies(duet_mp_ddp_failure_prog duet_mpi)
duet_mp_failure(ddp_backward_throws duet_mp_ddp_failure_prog backward_throws 3
  "rank 0 caught: distributed: DistributedDataParallel: all_reduce of gradient bucket 0 \\(float32, 26 elements\\) on rank 0 of 2 did not complete within 3 s")

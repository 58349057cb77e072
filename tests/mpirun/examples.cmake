# train_fashion_mnist --distributed on 2 ranks, one short epoch per mode (needs the
# Fashion-MNIST files): both ranks must end with the same parameter checksum and logs.
if(DUET_BUILD_EXAMPLES AND EXISTS /usr/share/datasets/fashion-mnist)
  foreach(_mode eager graph)
    add_test(NAME mpirun.example_train_distributed_${_mode}
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/train_distributed_check.sh
                     $<TARGET_FILE:train_fashion_mnist> --mode ${_mode} --epochs 1
                     --limit 2000 --threads 1)
    set_tests_properties(mpirun.example_train_distributed_${_mode} PROPERTIES
                         LABELS "distributed;examples" PROCESSORS 2 RESOURCE_LOCK mpirun
                         TIMEOUT 600)
  endforeach()
endif()

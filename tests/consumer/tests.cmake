# Two ctest entries that build tests/consumer against this tree (label: consumer), check with
# ldd that it needs no CUDA library, and run it with the CUDA backend library hidden, broken
# and (package mode, CUDA builds) present (run_consumer.cmake).
foreach(mode subdirectory package)
  add_test(NAME consumer_${mode}
           COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSRC=${PROJECT_SOURCE_DIR}
                   -DBIN=${PROJECT_BINARY_DIR} -DSHARED=${DUET_SHARED}
                   -DWORK=${PROJECT_BINARY_DIR}/consumer_${mode}
                   -P ${CMAKE_CURRENT_LIST_DIR}/run_consumer.cmake)
  set_tests_properties(consumer_${mode} PROPERTIES LABELS consumer TIMEOUT 1800
                       PASS_REGULAR_EXPRESSION "consumer checks ok")
endforeach()

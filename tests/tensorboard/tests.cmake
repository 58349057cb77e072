# tensorboard_reader: the event files SummaryWriter and the TensorBoard callback write, read
# back by TensorBoard's own EventAccumulator (label: tensorboard; skipped, exit 77, only when
# the Python venv with tensorboard cannot be installed).
add_executable(tensorboard_write_events ${CMAKE_CURRENT_LIST_DIR}/reader/write_events.cpp)
target_link_libraries(tensorboard_write_events PRIVATE duet::duet)
add_test(NAME tensorboard_reader
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/reader/run_reader_test.sh
                 $<TARGET_FILE:tensorboard_write_events>
                 ${CMAKE_CURRENT_BINARY_DIR}/tensorboard_reader)
set_tests_properties(tensorboard_reader PROPERTIES LABELS tensorboard SKIP_RETURN_CODE 77
                     TIMEOUT 900)

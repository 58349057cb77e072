# Runs the example programs as tests (label: examples).
if(NOT DUET_BUILD_EXAMPLES)
  return()
endif()
set(_fm /usr/share/datasets/fashion-mnist)
function(duet_example_test name rc match)
  string(REPLACE ";" "|" cmd "${ARGN}")  # a list cannot cross add_test intact
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} "-DCMD=${cmd}" -DRC=${rc} "-DMATCH=${match}"
                   -P ${CMAKE_CURRENT_LIST_DIR}/run_expect.cmake)
  set_tests_properties(${name} PROPERTIES LABELS examples TIMEOUT 900)
endfunction()
duet_example_test(example_missing_data_dir 1 "error: .*/nonexistent-dir"
                  $<TARGET_FILE:train_fashion_mnist> --data /nonexistent-dir)
duet_example_test(example_unknown_flag 1 "unknown argument '--bogus'"
                  $<TARGET_FILE:train_fashion_mnist> --bogus)
duet_example_test(example_bad_mode 1 "--mode fast is not a mode"
                  $<TARGET_FILE:train_fashion_mnist> --mode fast)
if(EXISTS ${_fm})
  # A short real run: 4000 images, one epoch; the JSON line must report > 70% accuracy.
  duet_example_test(example_train_short 0 "\"test_accuracy\": 0\\.([7-9])"
                    $<TARGET_FILE:train_fashion_mnist> --epochs 1 --limit 4000 --json)
  duet_example_test(example_train_short_graph 0 "\"test_accuracy\": 0\\.([7-9])"
                    $<TARGET_FILE:train_fashion_mnist> --mode graph --epochs 1 --limit 4000 --json)
  duet_example_test(example_mlp 0 "test accuracy 0\\.[7-9]" $<TARGET_FILE:mlp>)
  # Graph and eager must agree to 1e-5 (the JSON prints e.g. 3.1e-07 or 0).
  duet_example_test(example_compare_modes 0 "\"max_rel_diff\": (0|[0-9.]+e-(0[6-9]|[1-9][0-9]))[,}]"
                    $<TARGET_FILE:compare_modes> --steps 5 --batch-size 8 --json)
endif()

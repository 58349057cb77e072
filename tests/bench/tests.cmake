# bench_compare_inference: bench/compare_inference.sh end to end on a tiny grid (resnet18 at
# 32x32, batch 1, 1 step, 1 thread): duet-bench, bench/pytorch_reference.py and
# bench/ort_reference.py in one CSV, then bench/compare.py with ONNX Runtime as the baseline.
# Checks the CSV's rows (five frameworks, the study's 13 columns, times > 0), the verdict line
# and the figure; the times themselves are not judged. Label: bench. Skipped (77) only when the
# Python venv cannot be had (fails under DUET_REQUIRE_VENV=1).
if(NOT TARGET duet-bench)
  return()
endif()
add_test(NAME bench_compare_inference
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/compare_inference_test.sh ${PROJECT_BINARY_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/bench_compare_inference)
set_tests_properties(bench_compare_inference PROPERTIES LABELS bench SKIP_RETURN_CODE 77
                     TIMEOUT 300)

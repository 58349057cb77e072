# ---- part E: ONNX's own backend node tests, PyTorch/torchvision and NHWC import tests -------
# onnx_backend_node: every case of Debian's libonnx-testdata (data/node) loaded, run eagerly and
# compiled, outputs against ONNX's (rtol 1e-3, atol 1e-7); fails when a case of an imported
# operator fails and is not in backend/expected_failures.txt (also when run again with the
# integer inputs that ONNX feeds as shapes/axes bound as initializers). Skipped (77) without data.
add_executable(onnx_node_tests ${CMAKE_CURRENT_LIST_DIR}/backend/run_node_tests.cpp)
target_include_directories(onnx_node_tests PRIVATE ${PROJECT_SOURCE_DIR}/src ${DUET_ONNX_GEN_DIR})
target_link_libraries(onnx_node_tests PRIVATE duet::duet protobuf::libprotobuf-lite)
add_test(NAME onnx_backend_node
         COMMAND onnx_node_tests --data /usr/share/libonnx-testdata/data/node --assert --quiet
                 --bind-int-inputs
                 --expected-failures ${CMAKE_CURRENT_LIST_DIR}/backend/expected_failures.txt
                 --report ${CMAKE_CURRENT_BINARY_DIR}/onnx_backend_node_report.md)
set_tests_properties(onnx_backend_node PROPERTIES LABELS onnx SKIP_RETURN_CODE 77 TIMEOUT 600)
# onnx_backend_other: the same runner over data/pytorch-operator, pytorch-converted and simple
# (older files: most import opset 6, which duet does not read, so they count as unsupported).
add_test(NAME onnx_backend_other
         COMMAND onnx_node_tests --data /usr/share/libonnx-testdata/data/pytorch-operator
                 --data /usr/share/libonnx-testdata/data/pytorch-converted
                 --data /usr/share/libonnx-testdata/data/simple --assert --quiet
                 --expected-failures ${CMAKE_CURRENT_LIST_DIR}/backend/expected_failures.txt
                 --report ${CMAKE_CURRENT_BINARY_DIR}/onnx_backend_other_report.md)
set_tests_properties(onnx_backend_other PROPERTIES LABELS onnx SKIP_RETURN_CODE 77 TIMEOUT 300)

# onnx_torchvision_import: torch.onnx.export's resnet18, mobilenet_v2, efficientnet_b0 and a
# custom model (opsets 13 and 17, odd input sizes) and tf2onnx-style NHWC models built with
# onnx.helper, imported and run eager and compiled against PyTorch's / ONNX Runtime's outputs
# (max |diff| <= 1e-4 max |ref|). Skipped (77) only when the Python venv cannot be had.
add_executable(onnx_check_import ${CMAKE_CURRENT_LIST_DIR}/torchvision/check_import.cpp)
target_link_libraries(onnx_check_import PRIVATE duet::duet)
add_test(NAME onnx_torchvision_import
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/torchvision/run_import_test.sh
                 $<TARGET_FILE:onnx_check_import> ${CMAKE_CURRENT_BINARY_DIR}/onnx_torchvision)
set_tests_properties(onnx_torchvision_import PROPERTIES LABELS onnx SKIP_RETURN_CODE 77
                     TIMEOUT 600)

# ---- part D: export ---------------------------------------------------------------------------
# onnx_runtime_zoo: every zoo model (random weights and BN statistics, eval, 2x3x64x64) exported
# by duet, checked by onnx.checker (full_check) and run by ONNX Runtime (CPU, ORT_ENABLE_ALL)
# against duet's logits: max|ort - duet| / max|duet| <= 1e-4 per model; plus a dynamic_batch
# export run at another batch size and opset-13 exports with BatchNormalization nodes.
# onnx_runtime_ops: one model per op-table sample (float32) of every op with a mapping, through
# onnx.checker and ONNX Runtime against duet's eager outputs (rtol 1e-4, atol 1e-5).
# Both skipped (77) only when the Python venv cannot be had.
add_executable(onnx_export_zoo ${CMAKE_CURRENT_LIST_DIR}/ort/export_zoo.cpp
               ${CMAKE_CURRENT_LIST_DIR}/ort/op_cases.cpp)
target_include_directories(onnx_export_zoo PRIVATE ${PROJECT_SOURCE_DIR}/src
                           ${PROJECT_SOURCE_DIR}/kernels ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(onnx_export_zoo PRIVATE duet::duet GTest::gtest)
add_test(NAME onnx_runtime_zoo
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/ort/run_ort_test.sh check_zoo.py
                 $<TARGET_FILE:onnx_export_zoo> ${CMAKE_CURRENT_BINARY_DIR}/onnx_runtime_zoo)
set_tests_properties(onnx_runtime_zoo PROPERTIES LABELS onnx SKIP_RETURN_CODE 77 TIMEOUT 600)
add_test(NAME onnx_runtime_ops
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/ort/run_ort_test.sh check_ops.py
                 $<TARGET_FILE:onnx_export_zoo> ${CMAKE_CURRENT_BINARY_DIR}/onnx_runtime_ops)
set_tests_properties(onnx_runtime_ops PROPERTIES LABELS onnx SKIP_RETURN_CODE 77 TIMEOUT 300)

# ---- part C: tensor math and shape operators --------------------------------------------------
# onnx_tensor_ops_torch: PyTorch modules of tensor math and shape operations (symbolic batch,
# shape chains, slices with steps and flips, pads, expand/repeat, reductions, argmax, cumsum, an
# embedding lookup, F.interpolate nearest/bilinear/bicubic) exported at opsets 11, 13 and 17,
# imported and run eager and compiled against PyTorch's outputs by onnx_check_import (above).
# Skipped (77) only when the venv cannot be had.
add_test(NAME onnx_tensor_ops_torch
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/tensor_ops/run_tensor_ops_test.sh
                 $<TARGET_FILE:onnx_check_import> ${CMAKE_CURRENT_BINARY_DIR}/onnx_tensor_ops)
set_tests_properties(onnx_tensor_ops_torch PROPERTIES LABELS onnx SKIP_RETURN_CODE 77
                     TIMEOUT 300)

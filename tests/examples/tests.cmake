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
# The "--device cuda without a GPU" errors: skipped on a machine with a GPU.
function(duet_example_test_no_gpu name rc match)
  string(REPLACE ";" "|" cmd "${ARGN}")
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} "-DCMD=${cmd}" -DRC=${rc} "-DMATCH=${match}" -DSKIP_IF_GPU=1
                   -P ${CMAKE_CURRENT_LIST_DIR}/run_expect.cmake)
  set_tests_properties(${name} PROPERTIES LABELS examples TIMEOUT 900
                       SKIP_REGULAR_EXPRESSION "SKIPPED: a GPU is present")
endfunction()
# Any machine: a device index past the last GPU, and a device that does not exist.
set(_no_device "error: .*device cuda:0 is not available: (no CUDA device is visible|no CUDA driver|the CUDA driver|the CUDA backend library)")
duet_example_test_no_gpu(example_train_no_gpu 1 "${_no_device}"
                         $<TARGET_FILE:train_fashion_mnist> --device cuda --epochs 1)
# Graph mode on CUDA (issue #6) fails the same way without a GPU: the device check comes first.
duet_example_test_no_gpu(example_train_graph_no_gpu 1 "${_no_device}"
                         $<TARGET_FILE:train_fashion_mnist> --device cuda --mode graph --epochs 1)
duet_example_test_no_gpu(example_compare_modes_no_gpu 1 "${_no_device}"
                         $<TARGET_FILE:compare_modes> --device cuda --steps 2 --synthetic)
duet_example_test(example_train_bad_device_index 1 "error: .*device cuda:99 is not available"
                  $<TARGET_FILE:train_fashion_mnist> --device cuda:99 --epochs 1)
duet_example_test(example_train_bad_device 1 "error: device 'tpu': expected cpu, cuda or cuda:N"
                  $<TARGET_FILE:train_fashion_mnist> --device tpu --epochs 1)
duet_example_test(example_missing_data_dir 1 "error: .*/nonexistent-dir"
                  $<TARGET_FILE:train_fashion_mnist> --data /nonexistent-dir)
duet_example_test(example_unknown_flag 1 "unknown argument '--bogus'"
                  $<TARGET_FILE:train_fashion_mnist> --bogus)
duet_example_test(example_bad_mode 1 "--mode fast is not a mode"
                  $<TARGET_FILE:train_fashion_mnist> --mode fast)
duet_example_test(example_bad_schedule 1 "--schedule linear is not a schedule"
                  $<TARGET_FILE:train_fashion_mnist> --schedule linear)
# --precision (issue #14): a bad value names the program, the flag, the value and the choices.
set(_bad_precision "is not a precision \\(expected fp32, bf16 or fp16\\)")
duet_example_test(example_train_bad_precision 1
                  "error: train_fashion_mnist: --precision fp8 ${_bad_precision}"
                  $<TARGET_FILE:train_fashion_mnist> --precision fp8)
duet_example_test(example_train_precision_needs_value 1
                  "error: train_fashion_mnist: --precision needs a value"
                  $<TARGET_FILE:train_fashion_mnist> --precision)
duet_example_test(example_compare_modes_bad_precision 1
                  "error: compare_modes: --precision float64 ${_bad_precision}"
                  $<TARGET_FILE:compare_modes> --precision float64 --synthetic)
duet_example_test(example_classify_bad_precision 1
                  "error: classify: --precision int8 ${_bad_precision}"
                  $<TARGET_FILE:classify> --model resnet18 --weights w.safetensors
                  --input x.safetensors --output y.safetensors --precision int8)
if(EXISTS ${_fm})
  # A short real run: 4000 images, one epoch; the JSON line must report > 70% accuracy.
  duet_example_test(example_train_short 0 "\"test_accuracy\": 0\\.([7-9])"
                    $<TARGET_FILE:train_fashion_mnist> --epochs 1 --limit 4000 --json)
  duet_example_test(example_train_short_graph 0 "\"test_accuracy\": 0\\.([7-9])"
                    $<TARGET_FILE:train_fashion_mnist> --mode graph --epochs 1 --limit 4000 --json)
  duet_example_test(example_mlp 0 "test accuracy 0\\.[7-9]" $<TARGET_FILE:mlp>)
  # --precision: short autocast runs (2,000 images, 1 epoch) record their precision and learn;
  # fp16 also reports the GradScaler's scale.
  duet_example_test(example_train_bf16 0 "\"precision\": \"bf16\".*\"test_accuracy\": 0\\.([6-9])"
                    $<TARGET_FILE:train_fashion_mnist> --epochs 1 --limit 2000 --json
                    --precision bf16)
  duet_example_test(example_train_bf16_graph 0
                    "\"mode\": \"graph\", \"precision\": \"bf16\".*\"test_accuracy\": 0\\.([6-9])"
                    $<TARGET_FILE:train_fashion_mnist> --mode graph --epochs 1 --limit 2000 --json
                    --precision bf16)
  duet_example_test(example_train_fp16_graph 0
                    "\"precision\": \"fp16\".*\"test_accuracy\": 0\\.([6-9]).*\"loss_scale\": [0-9]"
                    $<TARGET_FILE:train_fashion_mnist> --mode graph --epochs 1 --limit 2000 --json
                    --precision fp16)
  # The fit-era flags in one short run (1,000 augmented images, 1 epoch): the profile table,
  # then the JSON line; the checkpoint it writes is resumed for a second epoch.
  set(_ex ${CMAKE_CURRENT_BINARY_DIR}/example_train_flags)
  duet_example_test(example_train_flags 0 "Self CPU time total.*\"test_accuracy\": 0\\.[3-9]"
                    $<TARGET_FILE:train_fashion_mnist> --epochs 1 --limit 1000 --augment
                    --threads 2 --checkpoint ${_ex}/ckpt.safetensors --tensorboard ${_ex}/tb
                    --profile ${_ex}/trace.json --json)
  duet_example_test(example_train_resume 0 "epoch 2/2 - 16/16 .*\"epochs\": 2"
                    $<TARGET_FILE:train_fashion_mnist> --epochs 2 --limit 1000 --augment
                    --resume ${_ex}/ckpt.safetensors)
  set_tests_properties(example_train_flags PROPERTIES FIXTURES_SETUP example_ckpt)
  set_tests_properties(example_train_resume PROPERTIES FIXTURES_REQUIRED example_ckpt)
  duet_example_test(example_train_bad_resume 1 "error: .*nonexistent.safetensors"
                    $<TARGET_FILE:train_fashion_mnist> --limit 1000 --resume
                    ${_ex}/nonexistent.safetensors)
  # Graph and eager must agree to 1e-5 (the JSON prints e.g. 3.1e-07 or 0).
  duet_example_test(example_compare_modes 0 "\"max_rel_diff\": (0|[0-9.]+e-(0[6-9]|[1-9][0-9]))[,}]"
                    $<TARGET_FILE:compare_modes> --steps 5 --batch-size 8 --json)
  # Both modes under bf16 autocast: the precision is recorded and the differences reported.
  duet_example_test(example_compare_modes_bf16 0
                    "max relative difference, loss.*\"precision\": \"bf16\".*\"max_rel_diff\": [0-9]"
                    $<TARGET_FILE:compare_modes> --steps 3 --batch-size 8 --precision bf16)
endif()

# duet-bench (issue #4 acceptance): the model list with torchvision's parameter counts, the
# small grid's 8 CSV rows, and its errors.
if(TARGET duet-bench)
  duet_example_test(bench_list_json 0
    "\"resnet18\": {\"parameters\": 11689512, .*\"resnet50\": {\"parameters\": 25557032, .*\"resnet152\": {\"parameters\": 60192808, .*\"vgg16\": {\"parameters\": 138357544, .*\"mobilenet_v2\": {\"parameters\": 3504872, .*\"efficientnet_b0\": {\"parameters\": 5288548, .*\"efficientnet_b4\": {\"parameters\": 19341616, .*\"efficientnet_b7\": {\"parameters\": 66347960,"
    $<TARGET_FILE:duet-bench> --list --json)
  add_test(NAME bench_small_grid
           COMMAND ${CMAKE_COMMAND} -DBENCH=$<TARGET_FILE:duet-bench>
                   -DCSV=${CMAKE_CURRENT_BINARY_DIR}/bench_small_grid.csv
                   -P ${CMAKE_CURRENT_LIST_DIR}/bench_grid.cmake)
  set_tests_properties(bench_small_grid PROPERTIES LABELS examples TIMEOUT 900)
  # Past the allocator limit a point is recorded as '-' and the run goes on (exit 0).
  duet_example_test(bench_out_of_memory_point 0
    "\\| eager \\| vgg16 \\| 32 \\| 1 \\| inference_cpu \\| - \\| - \\| - \\|.*out of memory allocating"
    $<TARGET_FILE:duet-bench> --models vgg16 --sizes 32 --batches 1 --modes inference
    --exec eager --steps 1 --warmup 0 --memory-limit-mb 64)
  duet_example_test(bench_unknown_model 1 "duet-bench: unknown model 'resnet19' \\(known: resnet18,"
                    $<TARGET_FILE:duet-bench> --models resnet19 --steps 1)
  duet_example_test(bench_bad_mode 1 "--modes training is not a mode"
                    $<TARGET_FILE:duet-bench> --modes training)
  duet_example_test(bench_bad_precision 1 "duet-bench: --precision tf32 ${_bad_precision}"
                    $<TARGET_FILE:duet-bench> --precision fp32,tf32 --models resnet18)
  # --precision as a grid dimension: fp32 and bf16 rows of the same point, the column filled.
  duet_example_test(bench_precision_grid 0
    "\\| graph \\| resnet18 \\| 32 \\| 1 \\| inference_cpu \\| [0-9.]+ \\| [0-9.]+ \\| [0-9.]+ \\| - \\| - \\| fp32 \\|.*\\| graph \\| resnet18 \\| 32 \\| 1 \\| inference_cpu \\| [0-9.]+ \\| [0-9.]+ \\| [0-9.]+ \\| - \\| - \\| bf16 \\|"
    $<TARGET_FILE:duet-bench> --models resnet18 --sizes 32 --batches 1 --modes inference
    --exec graph --precision fp32,bf16 --steps 1 --warmup 0)
  duet_example_test_no_gpu(bench_no_cuda 1 "${_no_device}"
                           $<TARGET_FILE:duet-bench> --device cuda --models resnet18)
  duet_example_test_no_gpu(bench_graph_no_cuda 1 "${_no_device}"
                           $<TARGET_FILE:duet-bench> --device cuda --exec graph --models resnet18)
  duet_example_test(bench_bad_cuda_graph 1 "duet-bench: --cuda-graph maybe \\(expected on or off\\)"
                    $<TARGET_FILE:duet-bench> --cuda-graph maybe --models resnet18)
endif()

# classify: error paths, and its logits against PyTorch (torchvision models, random weights).
duet_example_test(example_classify_unknown_model 1 "error: classify: unknown model 'nope'"
                  $<TARGET_FILE:classify> --model nope --weights w.safetensors
                  --input x.safetensors --output y.safetensors)
duet_example_test(example_classify_missing_weights 1
                  "error: load_safetensors: '/nonexistent-dir/w.safetensors': cannot open"
                  $<TARGET_FILE:classify> --model resnet18 --weights /nonexistent-dir/w.safetensors
                  --input /nonexistent-dir/x.safetensors --output /nonexistent-dir/y.safetensors)
duet_example_test(example_classify_missing_flag 1 "error: classify: --weights is required"
                  $<TARGET_FILE:classify> --model resnet18)
duet_example_test_no_gpu(example_classify_no_cuda 1 "${_no_device}"
                  $<TARGET_FILE:classify> --model resnet18 --weights w.safetensors
                  --input x.safetensors --output y.safetensors --device cuda)
# classify --onnx: flags that do not go with it, and a file that is not there (the round trip
# --export-onnx -> --onnx against PyTorch is in classify_check.py, below).
if(DUET_HAVE_ONNX)
duet_example_test(example_classify_onnx_with_model 1
                  "error: classify: --model cannot be used with --onnx"
                  $<TARGET_FILE:classify> --onnx m.onnx --model resnet18 --input x.safetensors
                  --output y.safetensors)
duet_example_test(example_classify_onnx_missing_file 1
                  "error: onnx: /nonexistent-dir/m.onnx: cannot open the file"
                  $<TARGET_FILE:classify> --onnx /nonexistent-dir/m.onnx
                  --input /nonexistent-dir/x.safetensors --output /nonexistent-dir/y.safetensors)
endif()
# torch/torchvision are looked up in /usr/bin/python3 first; exit code 77 (no torch) skips.
find_program(DUET_PYTHON3 NAMES python3 HINTS /usr/bin
             DOC "Python 3 with torch + torchvision for the classify-vs-PyTorch check")
if(DUET_PYTHON3)
  if(DUET_HAVE_ONNX)
    set(_classify_onnx "")
  else()
    set(_classify_onnx --no-onnx)  # built without protobuf: no --export-onnx / --onnx cases
  endif()
  add_test(NAME example_classify_vs_torch
           COMMAND ${DUET_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/classify_check.py
                   $<TARGET_FILE:classify> ${_classify_onnx})
  set_tests_properties(example_classify_vs_torch PROPERTIES LABELS examples
                       SKIP_RETURN_CODE 77 TIMEOUT 600 ENVIRONMENT OMP_NUM_THREADS=2)
endif()

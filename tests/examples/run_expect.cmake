# cmake -DCMD="prog|arg|..." -DRC=<expected exit code> -DMATCH=<regex over stdout+stderr>
#       -P run_expect.cmake
#       [-DSKIP_IF_GPU=1]
# Runs CMD and fails unless it exits with RC and its output matches MATCH. With SKIP_IF_GPU
# (tests of the "no GPU" error) it prints "SKIPPED: a GPU is present" instead when
# nvidia-smi lists a GPU; the test's SKIP_REGULAR_EXPRESSION turns that into a skip.
if(SKIP_IF_GPU)
  execute_process(COMMAND nvidia-smi -L RESULT_VARIABLE smi_rc OUTPUT_VARIABLE smi_out
                  ERROR_QUIET)
  if(smi_rc EQUAL 0 AND smi_out MATCHES "GPU [0-9]")
    message("SKIPPED: a GPU is present")
    return()
  endif()
endif()
string(REPLACE "|" ";" CMD "${CMD}")
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL RC)
  message(FATAL_ERROR "exit code ${rc}, expected ${RC}")
endif()
if(NOT "${out}${err}" MATCHES "${MATCH}")
  message(FATAL_ERROR "output does not match: ${MATCH}")
endif()

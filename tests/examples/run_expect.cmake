# cmake -DCMD="prog|arg|..." -DRC=<expected exit code> -DMATCH=<regex over stdout+stderr>
#       -P run_expect.cmake
# Runs CMD and fails unless it exits with RC and its output matches MATCH.
string(REPLACE "|" ";" CMD "${CMD}")
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL RC)
  message(FATAL_ERROR "exit code ${rc}, expected ${RC}")
endif()
if(NOT "${out}${err}" MATCHES "${MATCH}")
  message(FATAL_ERROR "output does not match: ${MATCH}")
endif()

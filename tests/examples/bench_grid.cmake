# cmake -DBENCH=<duet-bench> -DCSV=<file> -P bench_grid.cmake
# The issue's small grid: 2 models x 1 size x 1 batch x 2 modes x 2 execution styles must
# write 8 data rows in the study's CSV layout, each with a time and a memory figure.
file(REMOVE ${CSV})
execute_process(COMMAND ${BENCH} --models resnet18,mobilenet_v2 --sizes 64 --batches 2
                        --modes train,inference --exec eager,graph --device cpu --steps 3
                        --warmup 1 --csv ${CSV}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "duet-bench exited with ${rc}")
endif()
file(STRINGS ${CSV} lines)
list(LENGTH lines n)
if(NOT n EQUAL 9)
  message(FATAL_ERROR "expected a header and 8 rows in ${CSV}, got ${n} lines")
endif()
list(GET lines 0 header)
if(NOT header MATCHES "^;Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory")
  message(FATAL_ERROR "header is not the study's layout: ${header}")
endif()
foreach(i RANGE 1 8)
  list(GET lines ${i} row)
  # e.g. 0;eager;resnet18;(64, 64, 3);2;train;;0.0412;151.2;...
  if(NOT row MATCHES "^[0-9]+;(eager|graph);(resnet18|mobilenet_v2);\\(64, 64, 3\\);2;(train|inference_cpu);;[0-9.e-]+;[0-9.]+")
    message(FATAL_ERROR "row ${i} is not a measured point: ${row}")
  endif()
endforeach()
if(NOT "${out}" MATCHES "\\| graph \\| mobilenet_v2 \\| 64 \\| 2 \\| inference_cpu \\|")
  message(FATAL_ERROR "the markdown table lacks the graph mobilenet_v2 inference row")
endif()

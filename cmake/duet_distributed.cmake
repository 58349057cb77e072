# The collective engine plugins: each one a shared library of its own, loaded at run time by
# duet::distributed::init() (src/distributed/plugin_loader.cpp), built when its engine's
# development files are found: duet_mpi.cmake (OpenMPI), duet_gloo.cmake (Gloo),
# duet_nccl.cmake (NCCL, with the CUDA backend). libduet itself links none of them.
set(DUET_COMM_PLUGINS "")
foreach(_engine mpi gloo nccl)
  if(EXISTS ${PROJECT_SOURCE_DIR}/cmake/duet_${_engine}.cmake)
    include(${PROJECT_SOURCE_DIR}/cmake/duet_${_engine}.cmake)
  endif()
endforeach()
if(DUET_COMM_PLUGINS)
  message(STATUS "duet: collective engine plugins: ${DUET_COMM_PLUGINS}")
else()
  message(STATUS "duet: no collective engine plugin (install libopenmpi-dev for MPI)")
endif()

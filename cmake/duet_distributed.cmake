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
# What the plugin loader needs to know: whether it can load plugins at all, which engines were
# built, and the install libdir it searches last.
set(_duet_comm_shared 0)
if(DUET_SHARED)
  set(_duet_comm_shared 1)
endif()
string(REPLACE ";" "," _duet_comm_built "${DUET_COMM_PLUGINS}")
set_property(SOURCE ${PROJECT_SOURCE_DIR}/src/distributed/plugin_loader.cpp APPEND PROPERTY
  COMPILE_DEFINITIONS DUET_SHARED_LIBRARY=${_duet_comm_shared}
  "DUET_COMM_PLUGINS_BUILT=\"${_duet_comm_built}\"")

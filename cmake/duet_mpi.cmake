# The MPI engine plugin (libduet_mpi.so: src/distributed/mpi/), loaded at run time by
# duet::distributed::init() (src/distributed/plugin_loader.cpp). Built when MPI's development
# files are found (Debian: libopenmpi-dev) and libduet is shared (a static libduet cannot load
# plugins). libduet itself never links MPI.
if(NOT DUET_SHARED)
  message(STATUS "duet: DUET_SHARED=OFF: the MPI engine plugin is not built")
  return()
endif()
# The C API only (MPI_CXX_SKIP_MPICXX: no deprecated C++ bindings), found through mpicxx.
set(MPI_CXX_SKIP_MPICXX ON)
find_package(MPI QUIET COMPONENTS CXX)
if(NOT MPI_CXX_FOUND)
  message(STATUS "duet: MPI not found: libduet_mpi.so is not built (install libopenmpi-dev)")
  return()
endif()
file(GLOB DUET_MPI_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/distributed/mpi/*.cpp)
add_library(duet_mpi SHARED ${DUET_MPI_SOURCES})
target_include_directories(duet_mpi PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(duet_mpi PRIVATE duet MPI::MPI_CXX)
target_compile_definitions(duet_mpi PRIVATE DUET_VERSION="${PROJECT_VERSION}")
duet_warnings(duet_mpi)
# Built and installed beside libduet, where the loader looks.
install(TARGETS duet_mpi LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
list(APPEND DUET_COMM_PLUGINS mpi)

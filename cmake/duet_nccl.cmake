# The NCCL engine plugin (libduet_nccl.so: src/distributed/nccl/), built with the CUDA backend
# (libduet_cuda.so, whose per-device streams it runs on) when NCCL's header and library are
# found: in the CUDA toolkit (the toolkits on these machines ship it) or under $NCCL_ROOT /
# DUET_NCCL_ROOT. Backend::nccl bootstraps over the MPI or Gloo plugin.
set(DUET_NCCL_ROOT "" CACHE PATH "NCCL install prefix (when it is not in the CUDA toolkit)")
if(NOT DUET_SHARED OR NOT DUET_CUDA OR NOT TARGET duet_cuda)
  return()  # no CUDA backend: nothing to say beyond duet_cuda.cmake's message
endif()
find_path(DUET_NCCL_INCLUDE_DIR nccl.h
          HINTS ${DUET_NCCL_ROOT} ENV NCCL_ROOT ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
find_library(DUET_NCCL_LIBRARY nccl
             HINTS ${DUET_NCCL_ROOT} ENV NCCL_ROOT ${CUDAToolkit_LIBRARY_DIR}
             PATH_SUFFIXES lib lib64)
if(NOT DUET_NCCL_INCLUDE_DIR OR NOT DUET_NCCL_LIBRARY)
  message(STATUS "duet: NCCL plugin off (nccl.h / libnccl not found; set DUET_NCCL_ROOT)")
  return()
endif()
file(GLOB DUET_NCCL_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/distributed/nccl/*.cpp
     ${PROJECT_SOURCE_DIR}/src/distributed/nccl/*.cu)
add_library(duet_nccl SHARED ${DUET_NCCL_SOURCES})
target_include_directories(duet_nccl PRIVATE ${PROJECT_SOURCE_DIR}/src
                                             ${PROJECT_SOURCE_DIR}/kernels ${DUET_NCCL_INCLUDE_DIR})
target_link_libraries(duet_nccl PRIVATE duet duet_cuda ${DUET_NCCL_LIBRARY})
duet_warnings(duet_nccl)
duet_enable_cuda(duet_nccl)
get_filename_component(_duet_nccl_dir "${DUET_NCCL_LIBRARY}" DIRECTORY)
get_filename_component(_duet_cudnn_dir "${DUET_CUDNN_LIBRARY}" DIRECTORY)
set_target_properties(duet_nccl PROPERTIES
  CUDA_RUNTIME_LIBRARY Shared
  INSTALL_RPATH "$ORIGIN;${CUDAToolkit_LIBRARY_DIR};${_duet_nccl_dir};${_duet_cudnn_dir}")
install(TARGETS duet_nccl LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
list(APPEND DUET_COMM_PLUGINS nccl)

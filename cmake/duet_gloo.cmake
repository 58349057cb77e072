# The Gloo engine plugin (libduet_gloo.so: src/distributed/gloo/), built when libgloo-dev's
# CMake package (Gloo) is found and libduet is shared. duet::distributed::init(Backend::gloo)
# loads it at run time; it also bootstraps NCCL when there is no mpirun (duet_nccl.cmake).
if(NOT DUET_SHARED)
  message(STATUS "duet: Gloo plugin off (DUET_SHARED=OFF: a static libduet loads no plugin)")
  return()
endif()
set(DUET_GLOO_ROOT "" CACHE PATH
    "Gloo prefix (include/gloo, lib/libgloo.so) when its CMake package is not installed")
find_package(Gloo CONFIG QUIET)
if(NOT TARGET gloo AND DUET_GLOO_ROOT)
  # A copy without the CMake package (scripts/gpu_check.sh carries one to GPU machines).
  find_path(DUET_GLOO_INCLUDE_DIR gloo/context.h HINTS ${DUET_GLOO_ROOT}/include NO_DEFAULT_PATH)
  find_library(DUET_GLOO_LIBRARY gloo HINTS ${DUET_GLOO_ROOT}/lib NO_DEFAULT_PATH)
  if(DUET_GLOO_INCLUDE_DIR AND DUET_GLOO_LIBRARY)
    add_library(gloo SHARED IMPORTED)
    set_target_properties(gloo PROPERTIES IMPORTED_LOCATION ${DUET_GLOO_LIBRARY}
                                          INTERFACE_INCLUDE_DIRECTORIES ${DUET_GLOO_INCLUDE_DIR})
  endif()
endif()
if(NOT TARGET gloo)
  message(STATUS "duet: Gloo plugin off (libgloo-dev not found: no CMake package Gloo; "
                 "or set DUET_GLOO_ROOT)")
  return()
endif()
file(GLOB DUET_GLOO_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/distributed/gloo/*.cpp)
add_library(duet_gloo SHARED ${DUET_GLOO_SOURCES})
target_include_directories(duet_gloo PRIVATE ${PROJECT_SOURCE_DIR}/src
                                             ${PROJECT_SOURCE_DIR}/kernels)
target_link_libraries(duet_gloo PRIVATE duet gloo Threads::Threads)
duet_warnings(duet_gloo)
# Built and installed beside libduet, where the plugin loader looks.
install(TARGETS duet_gloo LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
list(APPEND DUET_COMM_PLUGINS gloo)

# The CUDA backend switch.
#
#   DUET_CUDA unset: on when the CUDA toolkit (nvcc, cudart, cuBLAS) and cuDNN are found.
#   -DDUET_CUDA=ON:  required; configuring fails and names what is missing.
#   -DDUET_CUDA=OFF: CPU only.
#
# CMAKE_CUDA_ARCHITECTURES defaults to "80;90" (A100, H100/H200); override on the command
# line (e.g. -DCMAKE_CUDA_ARCHITECTURES=90 to build faster for one GPU).
set(DUET_CUDNN_ROOT "" CACHE PATH "cuDNN install prefix (when it is not beside the toolkit)")

set(_duet_cuda_required OFF)
if(DEFINED DUET_CUDA AND DUET_CUDA)
  set(_duet_cuda_required ON)
endif()

set(_duet_cuda_found OFF)
if(NOT DEFINED DUET_CUDA OR DUET_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  find_package(CUDAToolkit QUIET)
  find_path(DUET_CUDNN_INCLUDE_DIR cudnn.h
            HINTS ${DUET_CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} ENV CUDNN_ROOT
            PATH_SUFFIXES include)
  find_library(DUET_CUDNN_LIBRARY cudnn
               HINTS ${DUET_CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR} ENV CUDNN_ROOT
               PATH_SUFFIXES lib lib64)
  set(_duet_missing "")
  if(NOT CMAKE_CUDA_COMPILER)
    list(APPEND _duet_missing "a CUDA compiler (nvcc)")
  endif()
  if(NOT CUDAToolkit_FOUND OR NOT TARGET CUDA::cublas)
    list(APPEND _duet_missing "the CUDA toolkit libraries (cudart, cuBLAS)")
  endif()
  if(NOT DUET_CUDNN_INCLUDE_DIR OR NOT DUET_CUDNN_LIBRARY)
    list(APPEND _duet_missing "cuDNN (cudnn.h and libcudnn; set DUET_CUDNN_ROOT)")
  endif()
  if(_duet_missing)
    if(_duet_cuda_required)
      list(JOIN _duet_missing ", " _duet_missing_str)
      message(FATAL_ERROR "DUET_CUDA=ON but not found: ${_duet_missing_str}")
    endif()
    message(STATUS "duet: CUDA backend off (not found: ${_duet_missing})")
  else()
    set(_duet_cuda_found ON)
  endif()
endif()
set(DUET_CUDA ${_duet_cuda_found} CACHE BOOL "Build the CUDA backend (cuDNN, cuBLAS)" FORCE)

if(DUET_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)
  endif()
  enable_language(CUDA)
  # CMake 3.25 does not know nvcc 13's C++20 flag; tell it (nvcc has had -std=c++20 since 12).
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  message(STATUS "duet: CUDA backend on (CUDA ${CUDAToolkit_VERSION}, architectures "
                 "${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${DUET_CUDNN_LIBRARY})")
endif()

# Links the CUDA libraries into `target` and defines DUET_WITH_CUDA for its sources.
function(duet_enable_cuda target)
  target_compile_definitions(${target} PRIVATE DUET_WITH_CUDA=1)
  target_include_directories(${target} PRIVATE ${DUET_CUDNN_INCLUDE_DIR})
  target_link_libraries(${target} PRIVATE CUDA::cudart CUDA::cublas ${DUET_CUDNN_LIBRARY})
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-fno-math-errno>)
  set_target_properties(${target} PROPERTIES CUDA_SEPARABLE_COMPILATION OFF)
endfunction()

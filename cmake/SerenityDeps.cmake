# Finds every dependency from Debian 12 packages. A missing one fails at
# configure time naming the package to install (scripts/install-deps.sh
# installs them all).

find_package(Threads REQUIRED)

# FlatBuffers 2.0.8: the CMake config file name is CamelCase.
find_package(FlatBuffers CONFIG QUIET)
if(NOT FlatBuffers_FOUND)
  message(FATAL_ERROR "FlatBuffers not found: install the Debian package "
                      "libflatbuffers-dev (or run scripts/install-deps.sh)")
endif()
find_program(SERENITY_FLATC flatc)
if(NOT SERENITY_FLATC)
  message(FATAL_ERROR "flatc not found: install the Debian package "
                      "flatbuffers-compiler (or run scripts/install-deps.sh)")
endif()

# XNNPACK and pthreadpool ship shared libraries only, without CMake config or
# pkg-config files: wrap each in an imported target.
function(serenity_find_shared_library target header library package)
  find_path(${target}_INCLUDE_DIR ${header})
  find_library(${target}_LIBRARY NAMES ${library})
  if(NOT ${target}_INCLUDE_DIR OR NOT ${target}_LIBRARY)
    message(FATAL_ERROR "${library} not found (${header}): install the Debian "
                        "package ${package} (or run scripts/install-deps.sh)")
  endif()
  add_library(${target} UNKNOWN IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION "${${target}_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${${target}_INCLUDE_DIR}")
endfunction()

if(SERENITY_WITH_XNNPACK)
  if(NOT TARGET pthreadpool::pthreadpool)
    serenity_find_shared_library(pthreadpool_imported pthreadpool.h pthreadpool
                                 libpthreadpool-dev)
    add_library(pthreadpool::pthreadpool ALIAS pthreadpool_imported)
  endif()
  if(NOT TARGET XNNPACK::XNNPACK)
    serenity_find_shared_library(xnnpack_imported xnnpack.h XNNPACK libxnnpack-dev)
    set_property(TARGET xnnpack_imported APPEND PROPERTY
                 INTERFACE_LINK_LIBRARIES pthreadpool::pthreadpool Threads::Threads)
    # What a static libXNNPACK.a from the user's own build needs after it
    # (cpuinfo, clog); set by platforms/toolchains/android.cmake.
    if(SERENITY_XNNPACK_EXTRA_LIBRARIES)
      set_property(TARGET xnnpack_imported APPEND PROPERTY
                   INTERFACE_LINK_LIBRARIES ${SERENITY_XNNPACK_EXTRA_LIBRARIES})
    endif()
    add_library(XNNPACK::XNNPACK ALIAS xnnpack_imported)
  endif()
endif()

if(SERENITY_BUILD_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    message(FATAL_ERROR "GoogleTest not found: install the Debian packages "
                        "libgtest-dev libgmock-dev (or run scripts/install-deps.sh)")
  endif()
  include(GoogleTest)
endif()

if(SERENITY_BUILD_BENCH)
  find_package(benchmark QUIET)
  if(NOT benchmark_FOUND)
    message(FATAL_ERROR "Google Benchmark not found: install the Debian "
                        "package libbenchmark-dev (or run scripts/install-deps.sh)")
  endif()
endif()

# /usr/bin/python3 is Debian's and sees python3-onnx, python3-numpy and
# python3-flatbuffers; another python3 may come first on PATH.
find_program(SERENITY_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT SERENITY_PYTHON)
  find_program(SERENITY_PYTHON NAMES python3)
endif()

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
# pkg-config files: cmake/FindXNNPACK.cmake and cmake/Findpthreadpool.cmake
# wrap each in an imported target (and are installed with the package).
if(SERENITY_WITH_XNNPACK)
  if(NOT TARGET pthreadpool::pthreadpool)
    find_package(pthreadpool REQUIRED)
  endif()
  if(NOT TARGET XNNPACK::XNNPACK)
    find_package(XNNPACK REQUIRED)
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

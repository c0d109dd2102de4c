# Toolchain file: Android, through the NDK's own toolchain file. A thin layer:
# it picks the NDK, sets Serenity's defaults for the ABI, API level and C++
# runtime, and points the dependency search at the user's own ARM builds of
# XNNPACK, pthreadpool and FlatBuffers (Android has no Debian packages).
#
#   cmake -S . -B build/android-arm64 -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=platforms/toolchains/android.cmake \
#     -DANDROID_NDK=$HOME/Android/Sdk/ndk/<version> \
#     -DSERENITY_XNNPACK_ROOT=$HOME/android/arm64 \
#     -DFlatBuffers_DIR=$HOME/android/arm64/lib/cmake/flatbuffers
#   cmake --build build/android-arm64 -j2
#
# Variables (all cache variables; pass them with -D):
#   ANDROID_NDK         the NDK (default: $ANDROID_NDK, $ANDROID_NDK_HOME or
#                       $ANDROID_NDK_ROOT from the environment)
#   ANDROID_ABI         default arm64-v8a (armeabi-v7a also works: NEON is
#                       on by default in the NDK)
#   ANDROID_PLATFORM    default android-24
#   ANDROID_STL         default c++_static (one self-contained binary)
#   SERENITY_XNNPACK_ROOT      install prefix of XNNPACK: include/xnnpack.h
#                              and lib/libXNNPACK.a (or .so)
#   SERENITY_PTHREADPOOL_ROOT  install prefix of pthreadpool: include/
#                              pthreadpool.h, lib/libpthreadpool.a (or .so);
#                              default SERENITY_XNNPACK_ROOT
#   SERENITY_XNNPACK_EXTRA_LIBRARIES  what a static libXNNPACK.a needs after
#                              it; default: libcpuinfo.a and libclog.a when
#                              found in either prefix's lib/
#   xnnpack_imported_INCLUDE_DIR, xnnpack_imported_LIBRARY,
#   pthreadpool_imported_INCLUDE_DIR, pthreadpool_imported_LIBRARY
#                       the exact header directories and library files, if
#                       the prefixes above do not fit (cmake/SerenityDeps.cmake
#                       searches only when they are unset)
#   FlatBuffers_DIR     the directory of FlatBuffersConfig.cmake of a
#                       FlatBuffers 2.0.8 build for the same ABI (the host
#                       flatc 2.0.8 still generates the code)
# XNNPACK must be the commit Debian 12 packages (ae108ef, 2022-02-16): the
# operator API changed later. Tests and benchmarks are off by default here
# (no GoogleTest or Google Benchmark for Android); turn them on with
# -DSERENITY_BUILD_TESTS=ON -DGTest_DIR=... if you have them.

if(NOT ANDROID_NDK)
  foreach(serenity_ndk_env ANDROID_NDK ANDROID_NDK_HOME ANDROID_NDK_ROOT)
    if(DEFINED ENV{${serenity_ndk_env}} AND NOT "$ENV{${serenity_ndk_env}}" STREQUAL "")
      set(ANDROID_NDK "$ENV{${serenity_ndk_env}}")
      break()
    endif()
  endforeach()
endif()
if(NOT ANDROID_NDK OR NOT EXISTS "${ANDROID_NDK}/build/cmake/android.toolchain.cmake")
  message(FATAL_ERROR "Android NDK not found: pass -DANDROID_NDK=/path/to/ndk or set "
                      "ANDROID_NDK (no build/cmake/android.toolchain.cmake in '${ANDROID_NDK}')")
endif()
set(ANDROID_NDK "${ANDROID_NDK}" CACHE PATH "The Android NDK")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES ANDROID_NDK)

set(ANDROID_ABI arm64-v8a CACHE STRING "Android ABI")
set(ANDROID_PLATFORM android-24 CACHE STRING "Android API level")
set(ANDROID_STL c++_static CACHE STRING "Android C++ runtime")
set(SERENITY_BUILD_TESTS OFF CACHE BOOL "Build the tests")
set(SERENITY_BUILD_BENCH OFF CACHE BOOL "Build the benchmarks")

include("${ANDROID_NDK}/build/cmake/android.toolchain.cmake")

# The NDK searches only its own sysroot: name the user's libraries directly.
set(SERENITY_XNNPACK_ROOT "" CACHE PATH "Install prefix of an XNNPACK build for this ABI")
set(SERENITY_PTHREADPOOL_ROOT "${SERENITY_XNNPACK_ROOT}" CACHE PATH
    "Install prefix of a pthreadpool build for this ABI")
# serenity_android_pick(<var> PATH|FILEPATH <description> <candidate>...):
# caches the first existing candidate under <var> unless <var> is already set.
function(serenity_android_pick var type description)
  if(${var})
    return()
  endif()
  foreach(candidate ${ARGN})
    if(EXISTS "${candidate}")
      set(${var} "${candidate}" CACHE ${type} "${description}")
      return()
    endif()
  endforeach()
endfunction()
if(SERENITY_XNNPACK_ROOT)
  serenity_android_pick(xnnpack_imported_INCLUDE_DIR PATH "Directory of xnnpack.h"
                        "${SERENITY_XNNPACK_ROOT}/include")
  serenity_android_pick(xnnpack_imported_LIBRARY FILEPATH "XNNPACK library"
                        "${SERENITY_XNNPACK_ROOT}/lib/libXNNPACK.a"
                        "${SERENITY_XNNPACK_ROOT}/lib/libXNNPACK.so")
endif()
if(SERENITY_PTHREADPOOL_ROOT)
  serenity_android_pick(pthreadpool_imported_INCLUDE_DIR PATH "Directory of pthreadpool.h"
                        "${SERENITY_PTHREADPOOL_ROOT}/include")
  serenity_android_pick(pthreadpool_imported_LIBRARY FILEPATH "pthreadpool library"
                        "${SERENITY_PTHREADPOOL_ROOT}/lib/libpthreadpool.a"
                        "${SERENITY_PTHREADPOOL_ROOT}/lib/libpthreadpool.so")
endif()
if(NOT DEFINED SERENITY_XNNPACK_EXTRA_LIBRARIES AND xnnpack_imported_LIBRARY MATCHES "\\.a$")
  set(serenity_android_extra)
  foreach(library cpuinfo clog)
    foreach(prefix "${SERENITY_XNNPACK_ROOT}" "${SERENITY_PTHREADPOOL_ROOT}")
      if(prefix AND EXISTS "${prefix}/lib/lib${library}.a")
        list(APPEND serenity_android_extra "${prefix}/lib/lib${library}.a")
        break()
      endif()
    endforeach()
  endforeach()
  set(SERENITY_XNNPACK_EXTRA_LIBRARIES "${serenity_android_extra}" CACHE STRING
      "Libraries a static libXNNPACK.a needs after it (cpuinfo, clog)")
endif()

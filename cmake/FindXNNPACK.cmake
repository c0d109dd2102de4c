# Finds XNNPACK and defines the imported target XNNPACK::XNNPACK, which brings
# pthreadpool::pthreadpool (Findpthreadpool.cmake) and Threads::Threads along.
#
# Debian's libxnnpack-dev (a 2022-02-16 snapshot) ships libXNNPACK.so only,
# with neither a CMake config nor a pkg-config file, hence this module.
# Serenity's build uses it, and so does the installed SerenityConfig.cmake
# (find_dependency), so an app finds the same library the same way.
#
# Cache variables, to point at another build (e.g. a static Android one):
#   xnnpack_imported_INCLUDE_DIR      directory of xnnpack.h
#   xnnpack_imported_LIBRARY          the library file
#   SERENITY_XNNPACK_EXTRA_LIBRARIES  what a static libXNNPACK.a needs after it
#                                     (cpuinfo, clog); set by
#                                     platforms/toolchains/android.cmake

if(NOT TARGET Threads::Threads)
  find_package(Threads QUIET)
endif()
if(NOT TARGET pthreadpool::pthreadpool)
  find_package(pthreadpool QUIET)
endif()

if(TARGET pthreadpool::pthreadpool AND TARGET Threads::Threads)
  set(xnnpack_dependencies_found TRUE)
else()
  set(xnnpack_dependencies_found FALSE)
endif()

find_path(xnnpack_imported_INCLUDE_DIR xnnpack.h)
find_library(xnnpack_imported_LIBRARY NAMES XNNPACK)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(XNNPACK
  REQUIRED_VARS xnnpack_imported_LIBRARY xnnpack_imported_INCLUDE_DIR
                xnnpack_dependencies_found
  REASON_FAILURE_MESSAGE
    "install the Debian packages libxnnpack-dev and libpthreadpool-dev (or run scripts/install-deps.sh)")

if(XNNPACK_FOUND AND NOT TARGET XNNPACK::XNNPACK)
  add_library(XNNPACK::XNNPACK UNKNOWN IMPORTED)
  set_target_properties(XNNPACK::XNNPACK PROPERTIES
    IMPORTED_LOCATION "${xnnpack_imported_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${xnnpack_imported_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "pthreadpool::pthreadpool;Threads::Threads")
  if(SERENITY_XNNPACK_EXTRA_LIBRARIES)
    set_property(TARGET XNNPACK::XNNPACK APPEND PROPERTY
                 INTERFACE_LINK_LIBRARIES ${SERENITY_XNNPACK_EXTRA_LIBRARIES})
  endif()
endif()

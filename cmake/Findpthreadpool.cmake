# Finds pthreadpool and defines the imported target pthreadpool::pthreadpool.
#
# Debian's libpthreadpool-dev ships a shared library only, with neither a
# CMake config nor a pkg-config file, hence this module. Serenity's build uses
# it, and so does the installed SerenityConfig.cmake (find_dependency), so an
# app finds the same library the same way.
#
# Cache variables, to point at another build (e.g. a static Android one):
#   pthreadpool_imported_INCLUDE_DIR  directory of pthreadpool.h
#   pthreadpool_imported_LIBRARY      the library file

find_path(pthreadpool_imported_INCLUDE_DIR pthreadpool.h)
find_library(pthreadpool_imported_LIBRARY NAMES pthreadpool)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(pthreadpool
  REQUIRED_VARS pthreadpool_imported_LIBRARY pthreadpool_imported_INCLUDE_DIR
  REASON_FAILURE_MESSAGE
    "install the Debian package libpthreadpool-dev (or run scripts/install-deps.sh)")

if(pthreadpool_FOUND AND NOT TARGET pthreadpool::pthreadpool)
  add_library(pthreadpool::pthreadpool UNKNOWN IMPORTED)
  set_target_properties(pthreadpool::pthreadpool PROPERTIES
    IMPORTED_LOCATION "${pthreadpool_imported_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${pthreadpool_imported_INCLUDE_DIR}")
endif()

# The library apps link, Serenity::serenity (included once every folder's
# library exists).
#
# Every folder's library is compiled with hidden symbol visibility: only the
# declarations marked SERENITY_API (serenity/export.h) are visible outside the
# library that holds them. Then:
#
#   BUILD_SHARED_LIBS=OFF  `serenity` is an interface target over the runtime
#                          and the static libraries it needs;
#   BUILD_SHARED_LIBS=ON   `serenity` is libserenity.so, made of the objects of
#                          all of those static (position-independent)
#                          libraries; it exports the public API and nothing
#                          else (no FlatBuffers, XNNPACK or internal symbols),
#                          and apps need no XNNPACK headers or link flags.
#
# The tests and the tools keep linking the static libraries directly, so they
# can reach internals; the examples link Serenity::serenity, as an app would.

include(GNUInstallDirs)

set(SERENITY_INTERNAL_LIBRARIES
  serenity_runtime serenity_kernels serenity_scheduler serenity_model_format
  serenity_platforms serenity_common)
set_target_properties(${SERENITY_INTERNAL_LIBRARIES} PROPERTIES
  C_VISIBILITY_PRESET hidden
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON)

# The public headers: runtime/include and what its headers include. The
# folders' include directories are build-tree only; installed, everything is
# under <prefix>/include.
set(SERENITY_PUBLIC_INCLUDE_DIRS
  ${PROJECT_SOURCE_DIR}/common/include
  ${PROJECT_SOURCE_DIR}/model_format/include
  ${PROJECT_SOURCE_DIR}/scheduler/include
  ${PROJECT_SOURCE_DIR}/runtime/include
  ${PROJECT_BINARY_DIR}/runtime/include)

if(SERENITY_SHARED)
  set(serenity_objects)
  foreach(library ${SERENITY_INTERNAL_LIBRARIES})
    list(APPEND serenity_objects $<TARGET_OBJECTS:${library}>)
  endforeach()
  add_library(serenity SHARED ${serenity_objects})
  # The objects come without their libraries' usage requirements: link what
  # they need (kernels: XNNPACK and pthreadpool).
  target_link_libraries(serenity PRIVATE XNNPACK::XNNPACK pthreadpool::pthreadpool
                                         Threads::Threads)
  foreach(library ${SERENITY_INTERNAL_LIBRARIES})
    add_dependencies(serenity ${library})
  endforeach()
  # 0.x: a minor release may change the ABI, so the soname carries it.
  set_target_properties(serenity PROPERTIES
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
    LINKER_LANGUAGE CXX)
  foreach(dir ${SERENITY_PUBLIC_INCLUDE_DIRS})
    target_include_directories(serenity PUBLIC $<BUILD_INTERFACE:${dir}>)
  endforeach()
  if(NOT SERENITY_SANITIZE)
    target_link_options(serenity PRIVATE LINKER:--no-undefined)
  endif()
else()
  add_library(serenity INTERFACE)
  target_link_libraries(serenity INTERFACE serenity_runtime)
endif()
target_include_directories(serenity INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
add_library(Serenity::serenity ALIAS serenity)

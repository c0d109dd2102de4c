# `cmake --install`: the public headers, the library (static by default,
# shared with BUILD_SHARED_LIBS=ON; see SerenityLibrary.cmake), the CMake
# package (find_package(Serenity)), serenity.pc, the CLIs and the Python
# converter and zoo tools.
#
#   <prefix>/include/serenity/...            engine.h, serenity_c.h, version.h, ...
#   <prefix>/lib/libserenity.so | lib*.a     the library
#   <prefix>/lib/cmake/Serenity/             SerenityConfig.cmake, targets, find modules
#   <prefix>/lib/pkgconfig/serenity.pc
#   <prefix>/bin/                            the CLIs, onnx2srn, serenity_zoo
#   <prefix>/share/serenity/                 serenity.fbs, python/ (the tools' package)

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SERENITY_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Serenity)

# The .srn format version, from the one place it is defined.
file(STRINGS ${PROJECT_SOURCE_DIR}/model_format/include/serenity/model_format/model.h
     serenity_format_line REGEX "kFormatVersion = [0-9]+;")
string(REGEX MATCH "[0-9]+" SERENITY_FORMAT_VERSION "${serenity_format_line}")

# --- Headers: runtime/include and the headers it includes, nothing else (no
# kernels, no planners, no FlatBuffers-generated code). The CI install check
# compiles them against the install tree alone.
if(TARGET serenity)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/common/include/serenity
                    ${PROJECT_SOURCE_DIR}/model_format/include/serenity
                    ${PROJECT_SOURCE_DIR}/runtime/include/serenity
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          FILES_MATCHING PATTERN "*.h")
  install(FILES ${PROJECT_BINARY_DIR}/runtime/include/serenity/version.h
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/serenity)
  # serenity/engine.h needs scheduler::Algorithm (ordering.h and the two
  # headers it includes); the rest of the scheduler stays internal.
  install(FILES ${PROJECT_SOURCE_DIR}/scheduler/include/serenity/scheduler/graph.h
                ${PROJECT_SOURCE_DIR}/scheduler/include/serenity/scheduler/memory_model.h
                ${PROJECT_SOURCE_DIR}/scheduler/include/serenity/scheduler/ordering.h
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/serenity/scheduler)

  # --- Libraries and their CMake export.
  if(SERENITY_SHARED)
    set(serenity_exported_targets serenity)
    set(SERENITY_LIBRARY_KIND shared)
  else()
    set(serenity_exported_targets serenity ${SERENITY_INTERNAL_LIBRARIES})
    set(SERENITY_LIBRARY_KIND static)
    foreach(library ${SERENITY_INTERNAL_LIBRARIES})
      string(REPLACE "serenity_" "" export_name ${library})
      set_target_properties(${library} PROPERTIES EXPORT_NAME ${export_name})
      target_include_directories(${library} INTERFACE
                                 $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    endforeach()
  endif()
  install(TARGETS ${serenity_exported_targets}
          EXPORT SerenityTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(EXPORT SerenityTargets
          NAMESPACE Serenity::
          DESTINATION ${SERENITY_CMAKE_INSTALL_DIR})

  # The dependency paths this build used, as defaults for the app's build.
  set(SERENITY_CONFIG_BUILT_WITH "")
  foreach(var xnnpack_imported_INCLUDE_DIR xnnpack_imported_LIBRARY
              pthreadpool_imported_INCLUDE_DIR pthreadpool_imported_LIBRARY)
    string(APPEND SERENITY_CONFIG_BUILT_WITH
           "  set(SERENITY_BUILT_WITH_${var} \"${${var}}\")\n")
  endforeach()
  configure_package_config_file(
    ${PROJECT_SOURCE_DIR}/cmake/SerenityConfig.cmake.in
    ${PROJECT_BINARY_DIR}/package/SerenityConfig.cmake
    INSTALL_DESTINATION ${SERENITY_CMAKE_INSTALL_DIR})
  # 0.x: a minor release may break the API, so 0.1 accepts 0.1.* only.
  write_basic_package_version_file(
    ${PROJECT_BINARY_DIR}/package/SerenityConfigVersion.cmake
    VERSION ${PROJECT_VERSION}
    COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/package/SerenityConfig.cmake
                ${PROJECT_BINARY_DIR}/package/SerenityConfigVersion.cmake
                ${PROJECT_SOURCE_DIR}/cmake/FindXNNPACK.cmake
                ${PROJECT_SOURCE_DIR}/cmake/Findpthreadpool.cmake
          DESTINATION ${SERENITY_CMAKE_INSTALL_DIR})

  # --- serenity.pc. A static install has no libserenity: Libs lists every
  # archive in link order, then XNNPACK, pthreadpool, threads and the C++
  # runtime (so that a C app links with the C compiler). Plain Libs rather
  # than Libs.private: without `--static`, pkg-config would leave them out and
  # the link would fail.
  set(serenity_pc_libs)
  if(SERENITY_SHARED)
    list(APPEND serenity_pc_libs -lserenity)
  else()
    foreach(library ${SERENITY_INTERNAL_LIBRARIES})
      list(APPEND serenity_pc_libs -l${library})
    endforeach()
    foreach(file ${xnnpack_imported_LIBRARY} ${pthreadpool_imported_LIBRARY}
                 ${SERENITY_XNNPACK_EXTRA_LIBRARIES})
      get_filename_component(dir ${file} DIRECTORY)
      get_filename_component(name ${file} NAME_WE)
      string(REGEX REPLACE "^lib" "" name ${name})
      list(FIND CMAKE_C_IMPLICIT_LINK_DIRECTORIES ${dir} implicit)
      if(implicit EQUAL -1)
        list(APPEND serenity_pc_libs -L${dir})
      endif()
      list(APPEND serenity_pc_libs -l${name})
    endforeach()
    list(APPEND serenity_pc_libs -pthread)
    foreach(library ${CMAKE_CXX_IMPLICIT_LINK_LIBRARIES})
      if(NOT library IN_LIST CMAKE_C_IMPLICIT_LINK_LIBRARIES)
        list(APPEND serenity_pc_libs -l${library})
      endif()
    endforeach()
  endif()
  list(REMOVE_DUPLICATES serenity_pc_libs)
  list(JOIN serenity_pc_libs " " SERENITY_PC_LIBS)
  file(RELATIVE_PATH SERENITY_PC_PREFIX_FROM_PCDIR
       /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
  string(REGEX REPLACE "/$" "" SERENITY_PC_PREFIX_FROM_PCDIR "${SERENITY_PC_PREFIX_FROM_PCDIR}")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/serenity.pc.in
                 ${PROJECT_BINARY_DIR}/package/serenity.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/package/serenity.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

# --- Command-line tools. serenity_compile is being added in tools/; it is
# installed once it exists.
set(serenity_cli_tools)
foreach(tool serenity_run serenity_inspect serenity_schedule serenity_plan serenity_compile)
  if(TARGET ${tool})
    list(APPEND serenity_cli_tools ${tool})
  endif()
endforeach()
install(TARGETS ${serenity_cli_tools} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# --- Python tools: the serenity_tools package and the FlatBuffers code the
# build generated, under share/serenity/python, with launchers in bin/ that
# find them relative to themselves.
if(SERENITY_PYTHON AND TARGET serenity_python_tools)
  set(SERENITY_PY_INSTALL_DIR ${CMAKE_INSTALL_DATADIR}/serenity/python)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/tools/python/serenity_tools
                    ${PROJECT_BINARY_DIR}/python/serenity
          DESTINATION ${SERENITY_PY_INSTALL_DIR}
          PATTERN "__pycache__" EXCLUDE
          PATTERN "*.pyc" EXCLUDE)
  file(RELATIVE_PATH SERENITY_PY_FROM_BINDIR
       /prefix/${CMAKE_INSTALL_BINDIR} /prefix/${SERENITY_PY_INSTALL_DIR})
  foreach(tool_and_module onnx2srn:onnx2srn_main serenity_zoo:zoo_main)
    string(REPLACE ":" ";" tool_and_module ${tool_and_module})
    list(GET tool_and_module 0 SERENITY_PY_TOOL)
    list(GET tool_and_module 1 SERENITY_PY_MODULE)
    configure_file(${PROJECT_SOURCE_DIR}/tools/serenity_py_launcher_installed.in
                   ${PROJECT_BINARY_DIR}/package/bin/${SERENITY_PY_TOOL} @ONLY)
    install(PROGRAMS ${PROJECT_BINARY_DIR}/package/bin/${SERENITY_PY_TOOL}
            DESTINATION ${CMAKE_INSTALL_BINDIR})
  endforeach()
endif()
install(FILES ${PROJECT_SOURCE_DIR}/model_format/serenity.fbs
        DESTINATION ${CMAKE_INSTALL_DATADIR}/serenity)

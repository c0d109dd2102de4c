# Shared body of the Linux ARM toolchain files (aarch64-linux-gnu.cmake,
# arm-linux-gnueabihf.cmake). Not a toolchain file on its own: the including
# file sets
#   serenity_arm_name       the name scripts/arm-sysroot.sh takes (aarch64, armhf)
#   serenity_arm_triple     GNU triple and Debian multiarch directory
#   serenity_arm_deb_arch   Debian architecture (arm64, armhf)
#   serenity_arm_processor  CMAKE_SYSTEM_PROCESSOR
#   serenity_arm_cpu_flags  default target CPU flags
#   serenity_arm_cxx_flags  other C++ flags (may be empty)
#   serenity_arm_loader     the dynamic loader's file name
#   serenity_arm_qemu       qemu-user binary and its default -cpu
#   serenity_arm_qemu_cpu
#
# Where each dependency comes from (Debian 12 packages):
#   XNNPACK, pthreadpool, cpuinfo  a private sysroot unpacked from the ARM
#       .debs by scripts/arm-sysroot.sh (they are Multi-Arch: no, so they
#       cannot be installed beside the amd64 ones), by default
#       <source>/build/sysroot-<deb arch>;
#   FlatBuffers, GoogleTest, Google Benchmark  the multiarch ARM packages
#       installed beside the host ones (/usr/lib/<triple>/...);
#   flatc, python3  the host's.
#
# Cache variables a user may set:
#   SERENITY_ARM_CPU_FLAGS  e.g. "-mcpu=cortex-a76" for a Raspberry Pi 5
#   SERENITY_ARM_SYSROOT    the private sysroot (also read from the
#                           environment variable of the same name)
#   SERENITY_QEMU_CPU       the -cpu that ctest's qemu emulates

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${serenity_arm_processor})
set(CMAKE_C_COMPILER ${serenity_arm_triple}-gcc)
set(CMAKE_CXX_COMPILER ${serenity_arm_triple}-g++)
# Debian's cross compilers search /usr/lib/<triple> but CMake cannot infer the
# multiarch name from their implicit directories; find_library and
# find_package need it to look in /usr/lib/<triple>.
set(CMAKE_LIBRARY_ARCHITECTURE ${serenity_arm_triple})

set(SERENITY_ARM_CPU_FLAGS "${serenity_arm_cpu_flags}" CACHE STRING
    "Target CPU flags of the ARM cross build")
set(CMAKE_C_FLAGS_INIT "${SERENITY_ARM_CPU_FLAGS}")
set(CMAKE_CXX_FLAGS_INIT "${SERENITY_ARM_CPU_FLAGS} ${serenity_arm_cxx_flags}")

if(NOT SERENITY_ARM_SYSROOT)
  if(DEFINED ENV{SERENITY_ARM_SYSROOT} AND NOT "$ENV{SERENITY_ARM_SYSROOT}" STREQUAL "")
    set(serenity_arm_sysroot_default "$ENV{SERENITY_ARM_SYSROOT}")
  else()
    get_filename_component(serenity_arm_sysroot_default
      "${CMAKE_CURRENT_LIST_DIR}/../../build/sysroot-${serenity_arm_deb_arch}" ABSOLUTE)
  endif()
  set(SERENITY_ARM_SYSROOT "${serenity_arm_sysroot_default}" CACHE PATH
      "Private sysroot holding the ${serenity_arm_deb_arch} XNNPACK, pthreadpool and cpuinfo (scripts/arm-sysroot.sh)")
endif()
if(NOT EXISTS "${SERENITY_ARM_SYSROOT}/usr/include/xnnpack.h")
  message(WARNING "No ${serenity_arm_deb_arch} XNNPACK in ${SERENITY_ARM_SYSROOT}: "
                  "run scripts/arm-sysroot.sh ${serenity_arm_name} "
                  "(or configure with -DSERENITY_WITH_XNNPACK=OFF)")
endif()
set(SERENITY_QEMU_CPU "${serenity_arm_qemu_cpu}" CACHE STRING
    "CPU that ${serenity_arm_qemu} emulates when ctest runs the ARM binaries")
# try_compile projects re-read this file without the cache: hand them the values.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES
     SERENITY_ARM_CPU_FLAGS SERENITY_ARM_SYSROOT SERENITY_QEMU_CPU)

set(serenity_arm_sysroot_libdir "${SERENITY_ARM_SYSROOT}/usr/lib/${serenity_arm_triple}")

# The private sysroot first, then the cross toolchain's own tree, then "/" for
# the multiarch packages in /usr/lib/<triple>. Host programs (flatc, python3)
# come from the host.
set(CMAKE_FIND_ROOT_PATH "${SERENITY_ARM_SYSROOT}" "/usr/${serenity_arm_triple}" "/")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# libXNNPACK.so needs libcpuinfo.so.0 and libpthreadpool.so.0 from the same
# private sysroot; the linker must see them to resolve its symbols.
foreach(kind EXE SHARED MODULE)
  set(CMAKE_${kind}_LINKER_FLAGS_INIT "-Wl,-rpath-link,${serenity_arm_sysroot_libdir}")
endforeach()

# ctest (and gtest_discover_tests) run ARM binaries through qemu-user. The
# guest's dynamic loader and its libc must come from the same glibc build, or
# the guest can spin forever (seen here: libc6:arm64 2.36-9+deb12u14's loader
# with the cross toolchain's 2.36-8cross1 libc hangs in XNNPACK's thread pool).
#  - With libc6:<arch> installed (a dependency of the multiarch -dev packages)
#    the binaries' loader /lib/ld-linux-*.so.* is that package's: no -L, and
#    the guest's LD_LIBRARY_PATH puts that package's libraries first (not the
#    cross toolchain's /usr/<triple>/lib), then the private sysroot.
#  - Without it, -L /usr/<triple> takes loader and libc from the cross
#    toolchain.
# SERENITY_UNDER_EMULATION=1 lets tests shrink their inputs (qemu is 100-500x
# slower than the hardware).
if(EXISTS "/lib/${serenity_arm_loader}")
  set(serenity_arm_qemu_root)
  set(serenity_arm_guest_libs
      "/lib/${serenity_arm_triple}:/usr/lib/${serenity_arm_triple}:${serenity_arm_sysroot_libdir}")
else()
  set(serenity_arm_qemu_root -L "/usr/${serenity_arm_triple}")
  set(serenity_arm_guest_libs "${serenity_arm_sysroot_libdir}")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR
    ${serenity_arm_qemu} -cpu ${SERENITY_QEMU_CPU} ${serenity_arm_qemu_root}
    -E "LD_LIBRARY_PATH=${serenity_arm_guest_libs}"
    -E SERENITY_UNDER_EMULATION=1)
# List GoogleTest cases when ctest runs, not after each link: the build then
# never runs an ARM binary (an armhf build needs no qemu at all) and a slow
# emulated listing cannot fail the build.
set(CMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE PRE_TEST)
# For scripts (scripts/cross-build.sh writes <build>/qemu-run from it).
set(SERENITY_ARM_EMULATOR "${CMAKE_CROSSCOMPILING_EMULATOR}" CACHE INTERNAL
    "Command prefix that runs this build's binaries on the host")

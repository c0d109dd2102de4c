# Toolchain file: 64-bit ARM Linux, e.g. a Raspberry Pi 4 or 5 running
# Raspberry Pi OS 64-bit or Debian arm64, with Debian's g++-aarch64-linux-gnu.
#
#   scripts/arm-sysroot.sh aarch64       # once: ARM packages and sysroot
#   cmake -S . -B build/aarch64 \
#     -DCMAKE_TOOLCHAIN_FILE=platforms/toolchains/aarch64-linux-gnu.cmake
#   (or simply scripts/cross-build.sh aarch64 [--test])
#
# Tuned for a Raspberry Pi 4 (Cortex-A72); for a Pi 5 pass
# -DSERENITY_ARM_CPU_FLAGS=-mcpu=cortex-a76 (and -DSERENITY_QEMU_CPU=cortex-a76),
# for a Pi 3 or Zero 2 W -mcpu=cortex-a53. ctest runs the tests under
# qemu-aarch64. See linux-arm-common.cmake for the details.
set(serenity_arm_name aarch64)
set(serenity_arm_triple aarch64-linux-gnu)
set(serenity_arm_deb_arch arm64)
set(serenity_arm_processor aarch64)
set(serenity_arm_cpu_flags "-mcpu=cortex-a72")
set(serenity_arm_loader ld-linux-aarch64.so.1)
set(serenity_arm_qemu qemu-aarch64)
set(serenity_arm_qemu_cpu cortex-a72)
include(${CMAKE_CURRENT_LIST_DIR}/linux-arm-common.cmake)

# Toolchain file: 32-bit ARM Linux with hard float and NEON, e.g. a Raspberry
# Pi 2/3/4 running 32-bit Raspberry Pi OS, with Debian's
# g++-arm-linux-gnueabihf.
#
#   scripts/arm-sysroot.sh armhf         # once: ARM packages and sysroot
#   cmake -S . -B build/armhf \
#     -DCMAKE_TOOLCHAIN_FILE=platforms/toolchains/arm-linux-gnueabihf.cmake
#   (or simply scripts/cross-build.sh armhf [--test])
#
# Debian's armhf default is ARMv7 with VFPv3-D16 and no NEON; these flags turn
# NEON on for a Raspberry Pi 4 (Cortex-A72 in AArch32 state). For a Pi 2 pass
# -DSERENITY_ARM_CPU_FLAGS="-mcpu=cortex-a7 -mfpu=neon-vfpv4 -mfloat-abi=hard",
# for a Pi 3 "-mcpu=cortex-a53 -mfpu=neon-fp-armv8 -mfloat-abi=hard".
# qemu-arm has no cortex-a72 model: ctest runs the tests under -cpu max (ARMv8
# AArch32 with NEON). See linux-arm-common.cmake for the details.
set(serenity_arm_name armhf)
set(serenity_arm_triple arm-linux-gnueabihf)
set(serenity_arm_deb_arch armhf)
set(serenity_arm_processor armv7l)
set(serenity_arm_cpu_flags "-mcpu=cortex-a72 -mfpu=neon-fp-armv8 -mfloat-abi=hard")
# GCC notes on every std::vector iterator that the 32-bit ARM ABI for such
# arguments changed in GCC 7.1: irrelevant when one GCC builds everything.
set(serenity_arm_cxx_flags -Wno-psabi)
set(serenity_arm_loader ld-linux-armhf.so.3)
set(serenity_arm_qemu qemu-arm)
set(serenity_arm_qemu_cpu max)
include(${CMAKE_CURRENT_LIST_DIR}/linux-arm-common.cmake)

#!/usr/bin/env bash
# CI's ARM job (.ci/run calls it after the x86 jobs):
#   1. cross compilers, qemu-user, the multiarch ARM packages and the private
#      XNNPACK sysroots (scripts/arm-sysroot.sh);
#   2. aarch64: cross-build everything, run the unit tests under
#      qemu-aarch64 -cpu cortex-a72 (Raspberry Pi 4);
#   3. aarch64 vs x86: zoo models through serenity_run with the same fixed
#      input, outputs compared (scripts/arm-zoo-compare.sh: max abs diff
#      <= 1e-4 of the x86 output's max abs value);
#   4. armhf: cross-build everything (NEON on), no tests.
# Build directories: build/aarch64, build/armhf, build/arm-x86ref,
# build/arm-compare. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-true}"
export JOBS="${JOBS:-2}"

job_start=$SECONDS
step_start=-1
section() {
  if [[ $step_start -ge 0 ]]; then
    printf '(step took %d s)\n' $((SECONDS - step_start))
  fi
  step_start=$SECONDS
  printf '\n==== ARM: %s ====\n' "$*"
}

section "cross toolchains, qemu, ARM packages and sysroots"
scripts/arm-sysroot.sh aarch64
scripts/arm-sysroot.sh armhf

section "aarch64: build, unit tests under qemu-aarch64 -cpu cortex-a72"
scripts/cross-build.sh aarch64 --no-setup --test

section "aarch64 under qemu vs x86: zoo models through serenity_run"
# Guarded for trees without serenity_run or the zoo generator (they landed
# after the cross build); once their sources exist, a missing binary fails.
if [[ -f tools/serenity_run.cc && -d tools/python/serenity_tools/zoo ]]; then
  scripts/arm-zoo-compare.sh tiny_all_ops darts_cifar
else
  echo "SKIPPED: no tools/serenity_run.cc or zoo generator in this tree"
fi

section "armhf: build (NEON on), no tests"
scripts/cross-build.sh armhf --no-setup

section "done"
echo "ARM job: $((SECONDS - job_start)) s"

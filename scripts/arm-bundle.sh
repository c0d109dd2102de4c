#!/usr/bin/env bash
# Packs a cross build for copying to a board:
#   scripts/arm-bundle.sh aarch64|armhf      -> build/serenity-<arch>.tar.gz
#
# The archive unpacks to serenity-<arch>/ with
#   bin/   serenity_run, serenity_inspect, serenity_schedule, the examples
#   lib/   libXNNPACK.so.0, libpthreadpool.so.0, libcpuinfo.so.0 from the
#          Debian sysroot (boards rarely have this XNNPACK snapshot)
#   run    run PROGRAM ARGS...: runs bin/PROGRAM with lib/ on LD_LIBRARY_PATH
# The board needs glibc >= 2.34 and libstdc++ from GCC 12 or later (Raspberry
# Pi OS or Debian "bookworm" and newer). Run scripts/cross-build.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  aarch64|arm64) name=aarch64; deb_arch=arm64; triple=aarch64-linux-gnu ;;
  armhf|arm) name=armhf; deb_arch=armhf; triple=arm-linux-gnueabihf ;;
  *) echo "usage: $0 aarch64|armhf" >&2; exit 2 ;;
esac
build_dir="build/$name"
sysroot_lib="build/sysroot-$deb_arch/usr/lib/$triple"
if [[ ! -x "$build_dir/tools/serenity_run" ]]; then
  echo "arm-bundle: no $build_dir/tools/serenity_run: run scripts/cross-build.sh $name" >&2
  exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bundle="$stage/serenity-$name"
mkdir -p "$bundle/bin" "$bundle/lib"
for program in tools/serenity_run tools/serenity_inspect tools/serenity_schedule \
               tools/serenity_plan examples/xnnpack_conv_demo examples/run_model_c \
               examples/run_model_cc; do
  if [[ -f "$build_dir/$program" && -x "$build_dir/$program" ]] &&
     [[ $(file -b "$build_dir/$program") == ELF* ]]; then
    cp "$build_dir/$program" "$bundle/bin/"
  fi
done
cp -L "$sysroot_lib/libXNNPACK.so.0" "$sysroot_lib/libpthreadpool.so.0" \
      "$sysroot_lib/libcpuinfo.so.0" "$bundle/lib/"
cat >"$bundle/run" <<'EOF'
#!/bin/sh
# run PROGRAM ARGS...: runs bin/PROGRAM with this bundle's libraries.
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 PROGRAM [ARGS...]; programs: $(ls "$here/bin")" >&2; exit 2; }
program=$1
shift
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/bin/$program" "$@"
EOF
chmod +x "$bundle/run"
output="build/serenity-$name.tar.gz"
tar -C "$stage" -czf "$output" "serenity-$name"
echo "arm-bundle: $output ($(du -h "$output" | cut -f1)): $(ls "$bundle/bin" | tr '\n' ' ')"

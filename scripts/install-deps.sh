#!/usr/bin/env bash
# Installs every Debian 12 package that Serenity's build, tests, tools and CI
# need. Idempotent and quiet when everything is present; works as root or
# through sudo.
#   scripts/install-deps.sh          build, tests, tools
#   scripts/install-deps.sh --arm    also the ARM cross toolchains and qemu
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libxnnpack-dev libpthreadpool-dev
  libflatbuffers-dev flatbuffers-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  python3 python3-numpy python3-onnx python3-flatbuffers
  librsvg2-bin
)
if [[ "${1:-}" == "--arm" ]]; then
  packages+=(g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user)
fi

missing=()
for package in "${packages[@]}"; do
  if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != *"install ok installed"* ]]; then
    missing+=("$package")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: missing packages (${missing[*]}) and not root; no sudo found" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >/dev/null
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

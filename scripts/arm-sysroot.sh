#!/usr/bin/env bash
# Prepares what an ARM cross build needs, idempotently (a second run changes
# nothing and takes a few seconds):
#   scripts/arm-sysroot.sh aarch64|armhf [--sysroot DIR]
#
# 1. Cross compilers and qemu-user: scripts/install-deps.sh --arm.
# 2. The ARM FlatBuffers, GoogleTest/GoogleMock and Google Benchmark packages,
#    installed beside the host ones through multiarch (dpkg --add-architecture).
#    apt-get install -s runs first: if apt would remove any package, nothing
#    is installed and the script stops (Google Benchmark alone is dropped if it
#    is the culprit; scripts/cross-build.sh then builds without benchmarks).
# 3. A private sysroot (default build/sysroot-<deb arch>) with XNNPACK,
#    pthreadpool and cpuinfo: these packages are Multi-Arch: no, so installing
#    the ARM ones would remove the host ones. They are fetched with apt-get
#    download and unpacked with dpkg-deb -x instead.
#
# flatc stays the host's: the ARM flatbuffers-compiler-dev (pulled in by
# libflatbuffers-dev:<arch>) only adds a CMake file pointing at /usr/bin/flatc,
# which is the host binary. Never unpack it into the sysroot: there its CMake
# file would point at a flatc that does not exist.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 aarch64|armhf [--sysroot DIR]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
case "$1" in
  aarch64|arm64) deb_arch=arm64; triple=aarch64-linux-gnu ;;
  armhf|arm) deb_arch=armhf; triple=arm-linux-gnueabihf ;;
  *) usage ;;
esac
shift
sysroot="build/sysroot-$deb_arch"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sysroot) sysroot="${2:?--sysroot needs a directory}"; shift 2 ;;
    *) usage ;;
  esac
done

log() { echo "arm-sysroot[$deb_arch]: $*" >&2; }
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { log "not root and no sudo"; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -qq)

is_installed() {
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == *"install ok installed"* ]]
}

# 1. Cross compilers, qemu-user and the host build dependencies.
scripts/install-deps.sh --arm

# 2. Multiarch packages.
if ! grep -qx "$deb_arch" <<<"$(dpkg --print-foreign-architectures)"; then
  log "dpkg --add-architecture $deb_arch"
  "${sudo_cmd[@]}" dpkg --add-architecture "$deb_arch"
fi
have_lists() {
  compgen -G "/var/lib/apt/lists/*_binary-${deb_arch}_Packages*" >/dev/null &&
    apt-cache show --no-all-versions "libxnnpack0:$deb_arch" >/dev/null 2>&1
}
if ! have_lists; then
  log "apt-get update (adds the $deb_arch package lists)"
  # An index that fails to download for an architecture this script does not
  # need must not stop it; whether the needed packages are known is checked
  # right after.
  "${sudo_cmd[@]}" apt-get "${apt_opts[@]}" update >/dev/null 2>&1 || true
  if ! have_lists; then
    log "apt knows no $deb_arch packages after apt-get update"; exit 1
  fi
fi

multiarch_packages=("libflatbuffers-dev:$deb_arch" "libgtest-dev:$deb_arch"
                    "libgmock-dev:$deb_arch" "libbenchmark-dev:$deb_arch")
missing=()
for package in "${multiarch_packages[@]}"; do
  is_installed "$package" || missing+=("$package")
done
# Packages apt would remove to install $@ (never allowed: they are the host's).
removals() {
  local plan
  if ! plan=$(apt-get -s "${apt_opts[@]}" install --no-install-recommends "$@" 2>&1); then
    log "apt-get install -s $* fails:"; echo "$plan" >&2; exit 1
  fi
  awk '/^Remv /{print $2}' <<<"$plan"
}
if [[ ${#missing[@]} -gt 0 ]]; then
  removed=$(removals "${missing[@]}")
  if [[ -n "$removed" && " ${missing[*]} " == *" libbenchmark-dev:$deb_arch "* ]]; then
    without_bench=()
    for package in "${missing[@]}"; do
      [[ "$package" == "libbenchmark-dev:$deb_arch" ]] || without_bench+=("$package")
    done
    if [[ -z "$(removals "${without_bench[@]}")" ]]; then
      log "libbenchmark-dev:$deb_arch would remove: $(echo $removed); skipping it" \
          "(the $deb_arch build goes without benchmarks)"
      missing=("${without_bench[@]}")
      removed=""
    fi
  fi
  if [[ -n "$removed" ]]; then
    log "installing ${missing[*]} would remove: $(echo $removed)"
    log "refusing: the host packages must stay"; exit 1
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get "${apt_opts[@]}" install -y --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
fi

# 3. The private sysroot, rebuilt only when a package version changes.
sysroot_packages=("libxnnpack0" "libxnnpack-dev" "libpthreadpool0"
                  "libpthreadpool-dev" "libcpuinfo0")
# One apt-cache call (each takes seconds): "package:arch=version" lines.
wanted_stamp=$(apt-cache show --no-all-versions \
                 $(for package in "${sysroot_packages[@]}"; do echo "$package:$deb_arch"; done) |
               awk '/^Package:/{p=$2} /^Architecture:/{a=$2} /^Version:/{v=$2}
                    /^$/{if (p) print p ":" a "=" v; p=""} END{if (p) print p ":" a "=" v}' |
               sort)$'\n'
for package in "${sysroot_packages[@]}"; do
  grep -q "^$package:$deb_arch=" <<<"$wanted_stamp" ||
    { log "no $package:$deb_arch in the apt lists"; exit 1; }
done
stamp_file="$sysroot/.serenity-sysroot"
if [[ -f "$stamp_file" && "$(cat "$stamp_file")"$'\n' == "$wanted_stamp" ]]; then
  log "sysroot $sysroot is up to date"
  exit 0
fi

log "unpacking ${sysroot_packages[*]} ($deb_arch) into $sysroot"
rm -rf "$sysroot"
mkdir -p "$sysroot"
download_dir=$(mktemp -d)
trap 'rm -rf "$download_dir"' EXIT
chmod 755 "$download_dir"
(
  cd "$download_dir"
  download_opts=()
  # apt drops to the _apt user to download, which cannot write a root-owned
  # temporary directory.
  [[ $(id -u) -eq 0 ]] && download_opts=(-o APT::Sandbox::User=root)
  apt-get "${download_opts[@]}" -qq download \
    $(for package in "${sysroot_packages[@]}"; do echo "$package:$deb_arch"; done) >/dev/null
)
for deb in "$download_dir"/*.deb; do
  dpkg-deb -x "$deb" "$sysroot"
done
for file in usr/include/xnnpack.h usr/include/pthreadpool.h \
            "usr/lib/$triple/libXNNPACK.so" "usr/lib/$triple/libpthreadpool.so" \
            "usr/lib/$triple/libcpuinfo.so.0"; do
  [[ -e "$sysroot/$file" ]] || { log "missing $sysroot/$file after unpacking"; exit 1; }
done
printf '%s' "$wanted_stamp" >"$stamp_file"
log "sysroot ready: $sysroot"

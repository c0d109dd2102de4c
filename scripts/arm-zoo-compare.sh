#!/usr/bin/env bash
# Runs zoo models through serenity_run twice with the same fixed input, once
# natively (x86) and once cross-built for aarch64 under qemu-aarch64, and
# compares the outputs (scripts/compare-npy.py):
#   scripts/arm-zoo-compare.sh [MODEL...]     (default: tiny_all_ops darts_cifar)
#
# Needs build/aarch64 from scripts/cross-build.sh aarch64. Builds the x86
# reference serenity_run (and the zoo generator) in build/arm-x86ref, or in
# an existing x86 build directory named by X86_BUILD (e.g. build/release in
# CI, after the README's build), and works in build/arm-compare. TOLERANCE (default 1e-4) is the allowed max abs
# difference relative to the x86 output's max abs value.
set -euo pipefail
cd "$(dirname "$0")/.."

models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(tiny_all_ops darts_cifar)
arm_build=build/aarch64
x86_build="${X86_BUILD:-build/arm-x86ref}"
work=build/arm-compare
tolerance="${TOLERANCE:-1e-4}"
jobs="${JOBS:-2}"
python=/usr/bin/python3
log() { echo "arm-zoo-compare: $*" >&2; }

if [[ ! -x "$arm_build/tools/serenity_run" || ! -x "$arm_build/qemu-run" ]]; then
  log "no $arm_build/tools/serenity_run: run scripts/cross-build.sh aarch64 first"; exit 1
fi

log "x86 reference build in $x86_build"
if [[ ! -f "$x86_build/CMakeCache.txt" ]]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B "$x86_build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DSERENITY_BUILD_TESTS=OFF -DSERENITY_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$x86_build" -j "$jobs" --target serenity_run serenity_python_tools >/dev/null

mkdir -p "$work"
status=0
for model in "${models[@]}"; do
  srn="$work/$model.srn"
  "$x86_build/tools/serenity_zoo" --out "$work" --only "$model" >/dev/null
  # The engine's own view of the input and output shapes.
  "$x86_build/tools/serenity_run" --model "$srn" --warmup 0 --runs 1 --json \
    >"$work/$model.x86.json"
  # One fixed, seeded input per model input; one output file per output.
  mapfile -t io_args < <("$python" - "$work/$model.x86.json" "$work/$model" <<'PY'
import json, sys
import numpy as np
info = json.load(open(sys.argv[1]))
prefix = sys.argv[2]
rng = np.random.default_rng(20261124)
for i, tensor in enumerate(info["inputs"]):
  path = "%s.input%d.npy" % (prefix, i)
  np.save(path, rng.uniform(-1.0, 1.0, tensor["shape"]).astype(np.float32))
  print("--input"); print(path)
for i, _ in enumerate(info["outputs"]):
  print("--output"); print("%s.@ARCH@.output%d.npy" % (prefix, i))
PY
  )
  run_args=(--model "$srn" --warmup 0 --runs 1)
  "$x86_build/tools/serenity_run" "${run_args[@]}" "${io_args[@]//@ARCH@/x86}" >/dev/null
  start=$SECONDS
  "$arm_build/qemu-run" "$arm_build/tools/serenity_run" "${run_args[@]}" \
    "${io_args[@]//@ARCH@/aarch64}" >"$work/$model.aarch64.txt"
  log "$model: aarch64 serenity_run under qemu took $((SECONDS - start)) s"
  for x86_output in "$work/$model".x86.output*.npy; do
    arm_output="${x86_output/.x86./.aarch64.}"
    echo -n "$model $(basename "$x86_output" | sed 's/.*\.x86\.//'): "
    "$python" scripts/compare-npy.py --tolerance "$tolerance" "$x86_output" "$arm_output" ||
      status=1
  done
done
exit $status

#!/usr/bin/env bash
# Installs ONNX Runtime (the npm package onnxruntime-node, which ships a native
# runtime for linux x64 and arm64) next to this script. Its install script
# would try to download an optional GPU add-on; ONNXRUNTIME_NODE_INSTALL=skip
# keeps it to the npm registry. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
if [[ -f node_modules/onnxruntime-node/package.json ]]; then exit 0; fi
if ! command -v npm >/dev/null; then
  echo "ort setup: npm not found: install the Debian packages nodejs and npm" >&2
  exit 1
fi
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --no-package-lock --silent

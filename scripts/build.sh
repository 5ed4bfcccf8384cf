#!/usr/bin/env bash
# Builds the Worker to build/ with worker-build, offline: wasm-bindgen, wasm-opt and esbuild are
# the local ones (worker-build would otherwise try to download them). wrangler runs this as its
# [build] command; the test harness builds once and sets CP_SKIP_BUILD=1 for the wranglers it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${CP_SKIP_BUILD:-}" = 1 ] && [ -f build/index.js ]; then
  exit 0
fi
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$(ls -d "$PWD"/node_modules/@esbuild/linux-x64/bin/esbuild 2>/dev/null || echo "$PWD/node_modules/.bin/esbuild")}"
# wasm-opt buys nothing after gzip here (TOOLCHAIN.md) and costs seconds per build.
exec worker-build --release --no-opt

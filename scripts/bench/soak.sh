#!/usr/bin/env bash
# Memory over long runs in the page: 50 epochs on the CPU backend, then WebGPU on a subset for
# about ten minutes; one JSON line per epoch (worker wasm memory, page JS heap, GPU memory) and a
# summary each. Exits non-zero when memory grows by 5% or more after the first epochs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
setup_web
build_web_if_missing
cd "$ROOT"
status=0
node tests/e2e/soak.mjs --backend cpu --epochs 50 || status=1
node tests/e2e/soak.mjs --backend webgpu --epochs 50 --limit 3000 --minutes 10 || status=1
exit $status

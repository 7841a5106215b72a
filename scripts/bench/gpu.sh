#!/usr/bin/env bash
# The GPU benchmark, for a machine with a GPU: the native bench on wgpu (fused and autodiff
# steps, batch 64/256/1024), what a step costs there, and the browser bench in Chromium with the
# GPU enabled. JSON lines. On a machine without one it says so and measures nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
setup_web
cd "$ROOT"
cargo build --release --bin fashion --quiet
fashion="$CARGO_TARGET_DIR/release/fashion"
if ! info="$("$fashion" bench --gpu-info 2>&1)"; then
  echo "No GPU here: wgpu finds no device ($info). Nothing measured."
  exit 0
fi
echo "$info"
if echo "$info" | grep -q '"software":true'; then
  echo "No GPU here: wgpu's only device is a software implementation (see above). Nothing measured;"
  echo "scripts/bench/gpu-costs.sh measures what a step costs on it."
  exit 0
fi
"$fashion" bench --backends wgpu --steps fused,autodiff --batch-sizes 64,256,1024 --samples 60000
"$fashion" bench --gpu-costs --batch-sizes 64,256,1024
build_web_if_missing
node tests/e2e/bench.mjs --gpu --backends webgpu --batches 64,256,1024 --seconds 20
node tests/e2e/gpu-costs.mjs --gpu

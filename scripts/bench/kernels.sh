#!/usr/bin/env bash
# Each kernel of a GPU training step alone, in Chromium on its WebGPU adapter (SwiftShader here):
# the reference MLP's kernels as this checkout writes them (batch 256, or BATCH), timed beside
# the versions in any folders given (an earlier run's KEEP folder), alternating round by round.
#   scripts/bench/kernels.sh [--rounds N] [--only dense0,adam0] [DIR ...]   (KEEP=dir keeps these)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
setup_web
cd "$ROOT"
DIR="${KEEP:-$(mktemp -d)}"
FASHION_KERNELS_DIR="$DIR" FASHION_KERNELS_BATCH="${BATCH:-256}" \
  cargo test --release --lib --quiet write_the_reference_kernels -- --ignored >/dev/null
log "kernels of this checkout: $DIR"
node tests/e2e/kernels.mjs "$DIR" "$@"

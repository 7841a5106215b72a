#!/usr/bin/env bash
# Browser training benchmark on the full 60k set: samples/s per backend and batch size, as JSON
# lines. Arguments go to tests/e2e/bench.mjs (--backends webgpu,cpu --batches 64,256 --seconds 30).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
setup_web
build_web_if_missing
cd "$ROOT"
node tests/e2e/bench.mjs "$@"

#!/usr/bin/env bash
# Browser training benchmark on the full 60k set: samples/s per backend and batch size, as JSON
# lines. Arguments go to tests/e2e/bench.mjs (--backends webgpu,cpu --batches 64,256 --seconds 30).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
setup_web
cd "$ROOT"
[ -f dist/index.html ] && [ -z "${REBUILD:-}" ] || bash scripts/build-web.sh >&2
node tests/e2e/bench.mjs "$@"

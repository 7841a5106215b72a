#!/usr/bin/env bash
# A full 50-epoch training run in headless Chromium through the real page (CPU backend unless
# --backend webgpu): prints the test accuracy and wall time as JSON. Arguments go to
# tests/e2e/full-run.mjs (--backend cpu|webgpu --epochs 50 --recipe reference|improved).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
setup_web
build_web_if_missing
cd "$ROOT"
node tests/e2e/full-run.mjs "$@"

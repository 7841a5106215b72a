#!/usr/bin/env bash
# The page's responsiveness in benchmark mode (tests/e2e/responsiveness.test.mjs with its targets
# asserted): first prediction cold and warm, main-thread long tasks and frames while training
# 60,000 images for two epochs on the CPU and on WebGPU, drawing latency while training.
#   scripts/bench/responsiveness.sh [OLD_DIST]   (OLD_DIST: an earlier build's dist/, measured
#                                                 first in the same run, without the targets)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
setup_web
build_web_if_missing
cd "$ROOT"
status=0
if [ -n "${1:-}" ]; then
  log "before: $1"
  FASHION_DIST="$1" FASHION_BENCH_LABEL=before node --test tests/e2e/responsiveness.test.mjs | grep -a '^# {' | cut -c3- || true
fi
log "after: dist-test/ (targets asserted)"
FASHION_BENCH_STRICT=1 FASHION_BENCH_LABEL=after node --test tests/e2e/responsiveness.test.mjs > /tmp/responsiveness.$$ 2>&1 || status=1
grep -a '^# {' /tmp/responsiveness.$$ | cut -c3-
grep -a '^not ok\|error:' /tmp/responsiveness.$$ || true
rm -f /tmp/responsiveness.$$
exit $status

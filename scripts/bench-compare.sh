#!/usr/bin/env bash
# Product vs TF.js 4.22 in the same headless Chromium, on the same workload (full 60k set): for
# each batch size, our page's bench (webgpu, cpu) and right after it the TF.js peer (webgpu, wasm),
# so both sides see about the same machine load. Prints the JSON lines (also kept in a file) and a
# table of samples/s over the window with ratios ours/TF.js (> 1: ours is faster).
#   BATCHES="64 256 1024" SECONDS=20 scripts/bench-compare.sh      (OUT=file.jsonl to choose the file)
set -euo pipefail
# Bash keeps its own $SECONDS (time since start, set even when the caller gave none): the window
# comes from the environment, read before anything else.
SECONDS_WINDOW="$(printenv SECONDS || echo 20)"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 # never fetch a browser: Debian's Chromium is the one we test
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
setup_web

TFJS_VERSION=4.22.0
TFJS_PACKAGES=(@tensorflow/tfjs @tensorflow/tfjs-backend-wasm @tensorflow/tfjs-backend-webgpu)
tfjs_installed() {
  for p in "${TFJS_PACKAGES[@]}"; do
    [ "$(node -p "require('$FASHION_TOOLS/node_modules/$p/package.json').version" 2>/dev/null)" = "$TFJS_VERSION" ] || return 1
  done
}
if ! tfjs_installed; then
  log "npm: installing TF.js $TFJS_VERSION (tfjs, backend-wasm, backend-webgpu) for the peer bench"
  (cd "$FASHION_TOOLS" && npm install --no-audit --no-fund --ignore-scripts --save-exact --silent \
    "${TFJS_PACKAGES[@]/%/@$TFJS_VERSION}" >/dev/null)
  tfjs_installed || { log "TF.js $TFJS_VERSION is not installed in $FASHION_TOOLS/node_modules"; exit 1; }
fi
build_web_if_missing
cd "$ROOT"

BATCHES="${BATCHES:-64 256 1024}"
OUT="${OUT:-$HOME/.cache/fashion-mlp/bench/compare-$(date +%Y%m%d-%H%M%S).jsonl}"
mkdir -p "$(dirname "$OUT")"
: > "$OUT"

# The machine's speed varies with what else runs: keep the load next to the figures.
load() { echo "{\"where\":\"host\",\"when\":\"$1\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"nproc\":$(nproc)}" | tee -a "$OUT"; }
# Keeps a command's JSON lines (stdout) in $OUT and on stdout; its logs stay on stderr.
json_lines() { "$@" | { grep --line-buffered '^{' || true; } | tee -a "$OUT"; }

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
load before
failed=0
for b in $BATCHES; do
  log "batch $b: ours (webgpu, cpu), then TF.js (webgpu, wasm), ${SECONDS_WINDOW} s windows"
  json_lines node tests/e2e/bench.mjs --backends webgpu,cpu --batches "$b" --seconds "$SECONDS_WINDOW" || failed=1
  json_lines node bench/tfjs/run.mjs --backends webgpu,wasm --batches "$b" --seconds "$SECONDS_WINDOW" || failed=1
done
load after
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
log "JSON lines: $OUT"

# The table, from the file: ours vs TF.js per batch size (webgpu vs webgpu, our cpu vs TF.js wasm).
node - "$OUT" <<'EOF'
const lines = require('fs').readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map(JSON.parse);
const rate = (peer, backend, b) => lines.find((l) => l.where === 'chromium' && !!l.peer === peer && l.backend === backend && l.batch_size === b)?.samples_per_sec_over_window;
const cell = (v) => String(v ?? '-').padStart(13);
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) + 'x' : '-').padStart(8);
console.log('\nsamples/s over the window (ratio = ours / TF.js 4.22)');
console.log(`${'batch'.padStart(6)}${cell('ours webgpu')}${cell('tfjs webgpu')}${'ratio'.padStart(8)}${cell('ours cpu')}${cell('tfjs wasm')}${'ratio'.padStart(8)}`);
for (const b of [...new Set(lines.filter((l) => l.batch_size).map((l) => l.batch_size))]) {
  const [ow, tw, oc, tc] = [rate(false, 'webgpu', b), rate(true, 'webgpu', b), rate(false, 'cpu', b), rate(true, 'wasm', b)];
  console.log(`${String(b).padStart(6)}${cell(ow)}${cell(tw)}${ratio(ow, tw)}${cell(oc)}${cell(tc)}${ratio(oc, tc)}`);
}
for (const h of lines.filter((l) => l.where === 'host')) console.log(`load average ${h.when}: ${h.loadavg} (${h.nproc} cores)`);
EOF
exit $failed

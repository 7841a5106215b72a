#!/usr/bin/env bash
# The product beside jax-js 0.1.25 and TF.js 4.22 in the same headless Chromium, on the same
# workload (the reference MLP and recipe, full 60k set): for each batch size, our page's bench
# (webgpu; cpu1: one worker; cpu: two workers sharing each batch, as the cross-origin isolated
# page trains), then jax-js (webgpu, wasm on one thread, wasm on its worker pool when isolated),
# then TF.js (webgpu, wasm), so all see about the same machine load. Prints the JSON lines (also
# kept in a file) and a table of samples/s over the window with our ratio to each peer (> 1:
# ours is faster): one thread against one thread, both cores against both cores.
#   BATCHES="64 256" SECONDS=20 scripts/bench/compare.sh      (OUT=file.jsonl to choose the file)
set -euo pipefail
# Bash keeps its own $SECONDS (time since start, set even when the caller gave none): the window
# comes from the environment, read before anything else.
SECONDS_WINDOW="$(printenv SECONDS || echo 20)"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 # never fetch a browser: Debian's Chromium is the one we test
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
setup_web

# The peers' npm packages, pinned, installed beside the tools (never a browser download).
PEER_PACKAGES=(@tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 @tensorflow/tfjs-backend-webgpu@4.22.0 @jax-js/jax@0.1.25)
peers_installed() {
  for spec in "${PEER_PACKAGES[@]}"; do
    local name="${spec%@*}" version="${spec##*@}"
    [ "$(node -p "require('$FASHION_TOOLS/node_modules/$name/package.json').version" 2>/dev/null)" = "$version" ] || return 1
  done
}
if ! peers_installed; then
  log "npm: installing the peers (${PEER_PACKAGES[*]})"
  (cd "$FASHION_TOOLS" && npm install --no-audit --no-fund --ignore-scripts --save-exact --silent "${PEER_PACKAGES[@]}" >/dev/null)
  peers_installed || { log "the peers' packages are not installed in $FASHION_TOOLS/node_modules"; exit 1; }
fi
build_web_if_missing
cd "$ROOT"

BATCHES="${BATCHES:-64 256}"
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
  log "batch $b: ours (webgpu, cpu1, cpu), jax-js (webgpu, wasm, wasm isolated), TF.js (webgpu, wasm), ${SECONDS_WINDOW} s windows"
  json_lines node tests/e2e/bench.mjs --backends webgpu,cpu1,cpu --batches "$b" --seconds "$SECONDS_WINDOW" || failed=1
  json_lines node bench/peers/run.mjs --peer jaxjs --backends webgpu,wasm --batches "$b" --seconds "$SECONDS_WINDOW" || failed=1
  json_lines node bench/peers/run.mjs --peer jaxjs --isolated --backends wasm --batches "$b" --seconds "$SECONDS_WINDOW" || failed=1
  json_lines node bench/peers/run.mjs --peer tfjs --backends webgpu,wasm --batches "$b" --seconds "$SECONDS_WINDOW" || failed=1
done
load after
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
log "JSON lines: $OUT"

# The table, from the file: ours vs each peer per batch size and backend (our cpu vs their wasm).
node - "$OUT" <<'NODE'
const lines = require('fs').readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map(JSON.parse);
const rate = (peer, backend, b, isolated = false) => lines.find((l) => l.where === 'chromium' && (l.peer ?? '').startsWith(peer)
  && l.backend === backend && l.batch_size === b && Boolean(l.isolated) === isolated)?.samples_per_sec_over_window;
const ours = (backend, b) => lines.find((l) => l.where === 'chromium' && !l.peer && l.backend === backend && l.batch_size === b)?.samples_per_sec_over_window;
const cell = (v, w = 14) => String(v ?? '-').padStart(w);
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) + 'x' : '-');
console.log('\nsamples/s over the window (ratio = ours / peer)');
console.log(['batch', 'path', 'ours', 'jax-js', 'TF.js', 'vs jax-js', 'vs TF.js'].map((h) => cell(h)).join(''));
// Our path, its label, and the peers' matching path: one thread against one thread (TF.js's
// WebAssembly is single-threaded here either way), both cores against jax-js's worker pool.
const PATHS = [['webgpu', 'webgpu', 'webgpu', false], ['cpu1', 'cpu 1 core', 'wasm', false], ['cpu', 'cpu 2 cores', 'wasm', true]];
for (const b of [...new Set(lines.filter((l) => l.batch_size).map((l) => l.batch_size))]) {
  for (const [backend, label, peerBackend, isolated] of PATHS) {
    const [o, j, t] = [ours(backend, b), rate('jaxjs', peerBackend, b, isolated), rate('tfjs', peerBackend, b)];
    console.log([b, label, o, j, t, ratio(o, j), ratio(o, t)].map((v) => cell(v)).join(''));
  }
}
for (const h of lines.filter((l) => l.where === 'host')) console.log(`load average ${h.when}: ${h.loadavg} (${h.nproc} cores)`);
NODE
exit $failed

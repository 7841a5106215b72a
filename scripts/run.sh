#!/usr/bin/env bash
# Sets up what is missing, builds the page with Trunk (offline) with its CPU training module, puts
# the dataset and the ready model beside it, and serves it on 127.0.0.1 at a printed URL at once:
# drawing, pictures, test images, loading models and training on the CPU all work from then on.
# The other training modules (relaxed SIMD, WebGPU) build next, in the background; the page shows
# how far they have got and takes them up when they are there. Ctrl-C stops the server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
START=$(date +%s)
source "$ROOT/scripts/build/setup.sh"
setup_web
cd "$ROOT"
FASHION_WORKERS=cpu bash scripts/build/build-web.sh
PORT="${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
python3 "$ROOT/scripts/build/serve.py" --dir "$ROOT/dist" --port "$PORT" &
server=$!
trap 'kill "$server" 2>/dev/null' EXIT INT TERM
echo
echo "  Fashion-MNIST in the browser: http://127.0.0.1:$PORT/   (ready $(( $(date +%s) - START )) s after start)"
echo

# The rest of the training modules; a warm cache makes this take seconds.
late_started=$(date +%s)
log "building the relaxed-SIMD and WebGPU training modules in the background (the page says how far)"
if FASHION_WORKERS="cpu-relaxed gpu" bash scripts/build/build-worker.sh --late dist > "$CARGO_TARGET_DIR/late-build.log" 2>&1; then
  # The offline copy now includes them (a page open already offers "Reload to update").
  cp www/sw.js dist/sw.js && python3 scripts/build/stamp-sw.py dist >/dev/null
  log "all training modules ready ($(( $(date +%s) - late_started )) s); serving until Ctrl-C"
else
  log "building the extra training modules failed (see $CARGO_TARGET_DIR/late-build.log); the page trains on the CPU"
fi
wait "$server"

#!/usr/bin/env bash
# Sets up what is missing, builds the page with Trunk (offline), puts the dataset and the ready
# model beside it, and serves it on 127.0.0.1 at a printed URL. Ctrl-C stops the server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
setup_web
cd "$ROOT"
bash scripts/build/build-web.sh
PORT="${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
echo
echo "  Fashion-MNIST in the browser: http://127.0.0.1:$PORT/"
echo
exec python3 "$ROOT/scripts/build/serve.py" --dir "$ROOT/dist" --port "$PORT"

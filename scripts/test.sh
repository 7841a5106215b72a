#!/usr/bin/env bash
# The whole test suite: sets up what is missing, then native tests (real data), the wasm32 build,
# and (once they exist) the browser tests. CI runs exactly this (.ci/run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"

step() { printf '\n\033[1;32m== %s\033[0m\n' "$*" >&2; }

step "native tests (cargo test --release, real Fashion-MNIST)"
cargo test --release --quiet 2>&1 | tee "$CARGO_TARGET_DIR/native-tests.log"

step "wasm32 build of the library (no extra flags)"
cargo build --release --target wasm32-unknown-unknown --lib --quiet

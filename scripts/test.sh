#!/usr/bin/env bash
# The whole test suite: sets up what is missing, then native tests on the real data, the wasm32
# build, in-browser wasm tests (WebGPU on SwiftShader and the CPU backend), the page build, and the
# end-to-end browser tests. CI runs exactly this (.ci/run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Each step prints the minutes since the start (setup included): CI's time from nothing is a
# budget (README).
START=$(date +%s)
source "$ROOT/scripts/setup.sh"
setup_web
cd "$ROOT"

step() { printf '\n\033[1;32m== %s\033[0m (at %d min %02d s)\n' "$*" $(( ($(date +%s) - START) / 60 )) $(( ($(date +%s) - START) % 60 )) >&2; }

# The `ci` profile is release with the crates off the CPU training path at opt-level 1 (Cargo.toml).
step "native tests (cargo test --profile ci, real Fashion-MNIST)"
cargo test --profile ci

step "wasm32 build of the crate (no extra flags; the worker's module)"
cargo build --release --target wasm32-unknown-unknown --lib

step "in-browser wasm tests (headless Chromium, SwiftShader WebGPU + CPU)"
export CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600
cargo test --release --target wasm32-unknown-unknown --test browser

step "page build (Trunk, offline)"
bash scripts/build-web.sh

step "end-to-end browser tests (playwright-core + /usr/bin/chromium)"
# The classify test compares the page with the CLI that the native tests built.
FASHION_CLI="$CARGO_TARGET_DIR/ci/fashion" node --test --test-concurrency=1 tests/e2e/
step "all passed"

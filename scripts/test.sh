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
cd "$ROOT"

step() { printf '\n\033[1;32m== %s\033[0m (at %d min %02d s)\n' "$*" $(( ($(date +%s) - START) / 60 )) $(( ($(date +%s) - START) % 60 )) >&2; }

# Everything here is built in the `ci` profile (Cargo.toml): release, with the crates off the
# CPU training path (burn's GPU stack, wgpu, naga, image, clap...) at opt-level 1. The native
# tests and the worker's wasm32 module then share one set of build scripts and proc-macros. The
# product (scripts/run.sh, every benchmark) is built in the release profile.
export FASHION_PROFILE=ci
# The worker's module through wasm-opt -O1, not the product's -O2 (scripts/build-worker.sh): the
# same code and the same optimiser, in a third of -O2's time on one core (about 4 minutes less
# of a cold run; WebGPU in the e2e tests is about a quarter slower). The page's own module goes
# through wasm-opt as in the product.
export FASHION_WASM_OPT_LEVEL=1
# The order is set by the two cores: the worker's wasm-opt (binaryen from npm runs on one core)
# starts in the background as soon as the wasm32 build is done and works beside Trunk's install
# and the native build; the page build then takes its result from the cache
# (scripts/build-worker.sh).
setup_npm_start
setup_wasm_bindgen
step "wasm32 build of the crate (the worker's module)"
cargo build --profile ci --target wasm32-unknown-unknown --lib
setup_npm_wait
opt_log="$(mktemp)"
bash scripts/build-worker.sh --warm-cache >"$opt_log" 2>&1 &
opt_pid=$!
# A failing step ends the background optimiser too (wasm-opt is a child of that script).
trap 'pkill -P "$opt_pid" 2>/dev/null || true; kill "$opt_pid" 2>/dev/null || true; rm -f "$opt_log"' EXIT
setup_trunk

step "native tests (real Fashion-MNIST)"
cargo test --profile ci

step "in-browser wasm tests (headless Chromium, SwiftShader WebGPU + CPU)"
export CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600
cargo test --profile ci --target wasm32-unknown-unknown --test browser

step "page build (Trunk, offline)"
if ! wait "$opt_pid"; then
  cat "$opt_log" >&2
  echo "optimising the worker's module (scripts/build-worker.sh --warm-cache) failed" >&2
  exit 1
fi
bash scripts/build-web.sh

step "end-to-end browser tests (playwright-core + /usr/bin/chromium)"
# The classify test compares the page with the CLI that the native tests built.
FASHION_CLI="$CARGO_TARGET_DIR/ci/fashion" node --test --test-concurrency=1 tests/e2e/
step "all passed"

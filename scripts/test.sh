#!/usr/bin/env bash
# The whole test suite: sets up what is missing, then native tests on the real data, the wasm32
# build, in-browser wasm tests (WebGPU on SwiftShader and the CPU backend), the page build, and the
# end-to-end browser tests. CI runs exactly this (.ci/run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Each step prints the minutes since the start (setup included): CI's time from nothing is a
# budget (README).
START=$(date +%s)
source "$ROOT/scripts/build/setup.sh"
cd "$ROOT"

step() { printf '\n\033[1;32m== %s\033[0m (at %d min %02d s)\n' "$*" $(( ($(date +%s) - START) / 60 )) $(( ($(date +%s) - START) % 60 )) >&2; }

# Everything here is built in the `ci` profile (Cargo.toml): release, with the dependencies at
# opt-level 1 except the CPU path of burn's reference engine, which the tests train on. The
# native tests and the wasm32 modules then share one set of build scripts and proc-macros. The
# product (scripts/run.sh, every benchmark) is built in the release profile.
export FASHION_PROFILE=ci
# The workers' modules through wasm-opt -O1, not the product's -O2 (scripts/build/build-worker.sh): the
# tests check behaviour. The page's own module goes through wasm-opt as in the product.
export FASHION_WASM_OPT_LEVEL=1

# The order is set by the two cores. Each build leaves some of them idle (serial stretches: a
# long crate alone, linking), so the tool installs and the workers' wasm-opt (binaryen from npm
# runs on one core) run in the background beside the builds: wasm-bindgen-cli beside the wasm32
# builds, then the workers' wasm-opt and Trunk's install beside the native build. The page build
# waits for both and takes the optimised workers from the cache (scripts/build/build-worker.sh).
bg_pids=()
bg_logs=()
# A failing step ends the background jobs too.
trap 'for p in "${bg_pids[@]}"; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done; rm -f "${bg_logs[@]}"' EXIT
# background COMMAND...: runs COMMAND with its output kept aside; its pid is $bg_pid, its log $bg_log.
background() {
  local log; log="$(mktemp)"
  bg_logs+=("$log")
  "$@" >"$log" 2>&1 &
  bg_pid=$!
  bg_pids+=("$bg_pid")
  bg_log="$log"
}
# finish PID LOG WHAT: waits for a background job; on failure shows its output and stops.
finish() {
  if ! wait "$1"; then
    cat "$2" >&2
    echo "$3 failed" >&2
    exit 1
  fi
  # The tool installs say what they installed.
  grep -a '\[setup\]' "$2" >&2 || true
}

step "docs: README size, its figures in docs/RESULTS.md, every path the docs name"
python3 scripts/ci/check-docs.py

setup_npm_start
background setup_wasm_bindgen
wb_pid=$bg_pid wb_log=$bg_log
step "wasm32 builds of the crate (the page's and CPU worker's module, with relaxed SIMD, the GPU worker's)"
bash scripts/build/build-worker.sh --build-only
finish "$wb_pid" "$wb_log" "installing wasm-bindgen-cli"
setup_npm_wait
background bash scripts/build/build-worker.sh --warm-cache
opt_pid=$bg_pid opt_log=$bg_log
background setup_trunk
trunk_pid=$bg_pid trunk_log=$bg_log

step "native tests (real Fashion-MNIST)"
cargo test --profile ci

step "hostile files through the CLI (scripts/bench/hostile.py: each refused with a message)"
python3 scripts/bench/hostile.py --check --fashion "$CARGO_TARGET_DIR/ci/fashion"

step "in-browser wasm tests (headless Chromium, SwiftShader WebGPU + CPU)"
export CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600
cargo test --profile ci --target wasm32-unknown-unknown --test browser --no-default-features --features gpu

step "page build (Trunk, offline)"
finish "$opt_pid" "$opt_log" "optimising the workers' modules (scripts/build/build-worker.sh --warm-cache)"
finish "$trunk_pid" "$trunk_log" "installing Trunk"
# The test flavour (dist-test/, with the test interface the browser tests drive), then the shipped
# page (dist/; tests/e2e/shipped.test.mjs checks it has no test interface and works).
FASHION_TEST_API=1 bash scripts/build/build-web.sh
bash scripts/build/build-web.sh

step "end-to-end browser tests (playwright-core + /usr/bin/chromium)"
# The classify test compares the page with the CLI that the native tests built.
FASHION_CLI="$CARGO_TARGET_DIR/ci/fashion" node --test --test-concurrency=1 tests/e2e/
step "all passed"

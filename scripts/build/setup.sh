#!/usr/bin/env bash
# Installs whatever this project needs and is missing on a fresh Debian 12 machine; a second run
# finds everything in place and takes seconds. Sourced by run.sh and test.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fashion-mlp/target}"
export FASHION_TOOLS="${FASHION_TOOLS:-$HOME/.cache/fashion-mlp/tools}"
export FASHION_DATA_DIR="${FASHION_DATA_DIR:-/usr/share/datasets/fashion-mnist}"
export PATH="$HOME/.cargo/bin:$FASHION_TOOLS/bin:$FASHION_TOOLS/node_modules/.bin:$PATH"
mkdir -p "$CARGO_TARGET_DIR" "$FASHION_TOOLS/bin"

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0
PLAYWRIGHT_VERSION=1.64.1

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

# The build tools are installed with cargo, in a profile that builds fast: Trunk's own release
# profile asks for fat LTO in one codegen unit (minutes longer on 2 cores, for a tool that runs
# for seconds), and at optimisation level 1 (TOOL_OPT): the tools run for seconds per build, their
# build takes minutes. Config values override a crate's manifest profile.
# Each tool builds in a directory and installs to a root of its own (two installs run at once:
# cargo locks a target directory and an install root per process), then is linked into bin/.
tool_install() {
  local name="$1"; shift
  CARGO_TARGET_DIR="$FASHION_TOOLS/build-$name" CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL="${TOOL_OPT:-1}" \
    cargo install "$name" "$@" --root "$FASHION_TOOLS/$name" --quiet
  local bin
  for bin in "$FASHION_TOOLS/$name"/bin/*; do ln -sf "$bin" "$FASHION_TOOLS/bin/"; done
}

setup_core() {
need_apt=()
[ "$(ls "$FASHION_DATA_DIR"/*-ubyte.gz 2>/dev/null | wc -l)" -ge 4 ] || need_apt+=(dataset-fashion-mnist)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# Mesa's software Vulkan device (lavapipe): the native GPU tests run the fused step on it.
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
  log "rustup: adding wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

}

# Trunk without its default features: they are TLS (rustls, ring) for downloading tools and an
# update check, and this project's Trunk runs offline with the tools installed here. Unoptimised:
# it hashes, copies and minifies a few small files and calls wasm-bindgen and wasm-opt, which do
# the heavy work; its ~500 crates build minutes faster at level 0.
setup_trunk() {
if [ "$(trunk --version 2>/dev/null || true)" != "trunk $TRUNK_VERSION" ]; then
  log "cargo: installing trunk $TRUNK_VERSION (about 7 minutes, once)"
  TOOL_OPT=0 tool_install trunk --version "$TRUNK_VERSION" --locked --no-default-features \
    || { log "installing trunk failed: is crates.io reachable? (the errors are above)"; return 1; }
fi
}

# wasm-opt from npm's binaryen (Debian's 108 corrupts wasm-bindgen output); playwright-core
# drives the system Chromium in the browser tests (it never downloads a browser). npm mostly
# waits on the registry, so it runs in the background (beside the cargo installs) until
# setup_npm_wait.
npm_pid=""
setup_npm_start() {
if [ ! -x "$FASHION_TOOLS/node_modules/.bin/wasm-opt" ] || [ ! -d "$FASHION_TOOLS/node_modules/playwright-core" ]; then
  log "npm: installing binaryen $BINARYEN_VERSION and playwright-core $PLAYWRIGHT_VERSION"
  (cd "$FASHION_TOOLS" && [ -f package.json ] || echo '{"private":true}' > "$FASHION_TOOLS/package.json")
  (cd "$FASHION_TOOLS" && npm install --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null) &
  npm_pid=$!
fi
}
setup_npm_wait() {
if [ -n "$npm_pid" ] && ! wait "$npm_pid"; then
  log "npm: installing binaryen and playwright-core failed"
  return 1
fi
npm_pid=""
}

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
setup_wasm_bindgen() {
(cd "$ROOT" && [ -f Cargo.lock ] || cargo generate-lockfile --quiet)
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' "$ROOT/Cargo.lock")"
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WB_VERSION" ]; then
  log "cargo: installing wasm-bindgen-cli $WB_VERSION (about 3.5 minutes, once)"
  # Not --locked: its lockfile pins a crate version the registry no longer serves. No default
  # features: they are TLS (rustls, ring), and its test runner only talks to a local chromedriver.
  tool_install wasm-bindgen-cli --version "$WB_VERSION" --no-default-features \
    || { log "installing wasm-bindgen-cli failed: is crates.io reachable? (the errors are above)"; return 1; }
fi
}

# Every tool for the web build and the browser tests (test.sh calls the pieces in its own order).
# The two cargo installs run side by side: each has long stretches on one core.
setup_web() {
setup_npm_start
local wb_log wb_pid
wb_log="$(mktemp)"
setup_wasm_bindgen > "$wb_log" 2>&1 &
wb_pid=$!
setup_trunk
if ! wait "$wb_pid"; then
  cat "$wb_log" >&2; rm -f "$wb_log"
  return 1
fi
cat "$wb_log" >&2; rm -f "$wb_log"
setup_npm_wait
}

# The measuring scripts drive the page's test flavour (dist-test/, with window.fashionTest) and
# use an existing one as it is (REBUILD=1 rebuilds it first).
build_web_if_missing() {
  [ -f "$ROOT/dist-test/index.html" ] && [ -z "${REBUILD:-}" ] || (cd "$ROOT" && FASHION_TEST_API=1 bash scripts/build/build-web.sh >&2)
}
export NODE_PATH="$FASHION_TOOLS/node_modules"
setup_core

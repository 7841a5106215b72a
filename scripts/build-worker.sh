#!/usr/bin/env bash
# Trunk post_build hook: builds the training worker's module (the same crate with the WebGPU
# backend, which the page's own module leaves out) into $TRUNK_STAGING_DIR/train/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${CARGO_TARGET_DIR:=$HOME/.cache/fashion-mlp/target}"
: "${TRUNK_STAGING_DIR:?run by trunk}"
profile="${TRUNK_PROFILE:-release}"
flags=(--target wasm32-unknown-unknown --lib --manifest-path "$ROOT/Cargo.toml")
[ "$profile" = release ] && flags+=(--release)
export CARGO_TARGET_DIR
cargo build "${flags[@]}" --quiet
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/$profile/fashion_mlp.wasm"
out="$TRUNK_STAGING_DIR/train"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name trainer "$wasm"
# FASHION_WASM_OPT=0 skips the optimiser (minutes on this module) for quick local iterations.
# The wasm features to allow are the page module's, written once in www/index.html. -O1, not -O2:
# on this 42 MB module -O2 takes 8 min 45 s on one core and -O1 3 min 19 s, for 4% more bytes
# (25.7 vs 26.7 MB); the hot loops are LLVM's, already optimised.
if [ "$profile" = release ] && [ "${FASHION_WASM_OPT:-1}" != 0 ]; then
  read -r -a features <<< "$(sed -n 's/.*data-wasm-opt-params="\([^"]*\)".*/\1/p' "$ROOT/www/index.html")"
  [ ${#features[@]} -gt 0 ] || { echo "no data-wasm-opt-params in www/index.html" >&2; exit 1; }
  wasm-opt -O1 "${features[@]}" "$out/trainer_bg.wasm" -o "$out/trainer_bg.wasm"
fi

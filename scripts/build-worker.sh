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
# The wasm features to allow are the page module's, written once in www/index.html. -O2, not -O1:
# -O1 takes 3 min 19 s on one core instead of 8 min 45 s, but the one bench run with it gave
# 1.80x TF.js on WebGPU and 4.79x on the CPU at batch 64 (2.45x and 5.33x with -O2 before);
# until an A/B run says otherwise, the product keeps -O2.
if [ "$profile" = release ] && [ "${FASHION_WASM_OPT:-1}" != 0 ]; then
  read -r -a features <<< "$(sed -n 's/.*data-wasm-opt-params="\([^"]*\)".*/\1/p' "$ROOT/www/index.html")"
  [ ${#features[@]} -gt 0 ] || { echo "no data-wasm-opt-params in www/index.html" >&2; exit 1; }
  wasm-opt -O2 "${features[@]}" "$out/trainer_bg.wasm" -o "$out/trainer_bg.wasm"
fi

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
if [ "$profile" = release ] && [ "${FASHION_WASM_OPT:-1}" != 0 ]; then
  wasm-opt -O2 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$out/trainer_bg.wasm" -o "$out/trainer_bg.wasm"
fi

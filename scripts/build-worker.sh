#!/usr/bin/env bash
# Trunk post_build hook: builds the training worker's module (the same crate with the WebGPU
# backend, which the page's own module leaves out) into $TRUNK_STAGING_DIR/train/.
#
# `build-worker.sh --warm-cache` does the same work without Trunk and only fills a cache of
# finished modules (wasm-bindgen's output after wasm-opt), keyed by the compiled module's bytes,
# the optimiser's flags and both tools' versions. wasm-opt (binaryen from npm, compiled to wasm)
# runs on one core for minutes, so scripts/test.sh starts it in the background as soon as the
# wasm32 build is done and the later page build finds its result. Every release page build goes
# through the cache: when the worker did not change, neither wasm-bindgen nor wasm-opt runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${CARGO_TARGET_DIR:=$HOME/.cache/fashion-mlp/target}"
# Trunk's release builds use cargo's release profile, or FASHION_PROFILE's (scripts/test.sh
# builds in the `ci` profile, see Cargo.toml); its debug builds use cargo's dev profile.
if [ "${TRUNK_PROFILE:-release}" = release ]; then profile="${FASHION_PROFILE:-release}"; else profile=dev; fi
if [ "${1:-}" = --warm-cache ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
else
  : "${TRUNK_STAGING_DIR:?run by trunk (or pass --warm-cache)}"
  out="$TRUNK_STAGING_DIR/train"
fi
export CARGO_TARGET_DIR
cargo build --profile "$profile" --target wasm32-unknown-unknown --lib --manifest-path "$ROOT/Cargo.toml" --quiet
dir="$profile"; [ "$profile" = dev ] && dir=debug
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/$dir/fashion_mlp.wasm"
mkdir -p "$out"
bindgen=(wasm-bindgen --target web --no-typescript --out-name trainer)
# FASHION_WASM_OPT=0 skips the optimiser (and the cache) for quick local iterations.
if [ "$profile" = dev ] || [ "${FASHION_WASM_OPT:-1}" = 0 ]; then
  "${bindgen[@]}" --out-dir "$out" "$wasm"
  exit 0
fi

# The wasm features to allow are the page module's, written once in www/index.html. -O2, not
# -O1, for the product: -O1 takes a third of the time on one core, but an A/B of the two builds
# (alternating, batch 64, README) gave WebGPU 280 and 279 samples/s with -O2 against 205 and 212
# with -O1, the CPU within noise. scripts/test.sh asks for -O1 (FASHION_WASM_OPT_LEVEL=1): the
# tests check behaviour, and the eight minutes of one core that -O2 adds are CI's largest
# avoidable cost.
read -r -a features <<< "$(sed -n 's/.*data-wasm-opt-params="\([^"]*\)".*/\1/p' "$ROOT/www/index.html")"
[ ${#features[@]} -gt 0 ] || { echo "no data-wasm-opt-params in www/index.html" >&2; exit 1; }
level="${FASHION_WASM_OPT_LEVEL:-2}"
case "$level" in 1|2|3|4|s|z) ;; *) echo "FASHION_WASM_OPT_LEVEL must be 1, 2, 3, 4, s or z (got $level)" >&2; exit 1;; esac
opt=("-O$level" "${features[@]}")
cache="$CARGO_TARGET_DIR/worker-opt"
key="$({ sha256sum < "$wasm"; echo "${bindgen[*]} $(wasm-bindgen --version) ${opt[*]} $(wasm-opt --version)"; } | sha256sum | cut -c1-24)"
if [ ! -d "$cache/$key" ]; then
  part="$cache/$key.part"
  rm -rf "$part" && mkdir -p "$part"
  "${bindgen[@]}" --out-dir "$part" "$wasm"
  wasm-opt "${opt[@]}" "$part/trainer_bg.wasm" -o "$part/trainer_bg.opt.wasm"
  mv "$part/trainer_bg.opt.wasm" "$part/trainer_bg.wasm"
  mv "$part" "$cache/$key"
  # Keep the three newest modules: a cache, not an archive (and nothing from the older layout,
  # which kept bare .wasm files).
  rm -f "$cache"/*.wasm
  ls -dt "$cache"/*/ | tail -n +4 | xargs -r rm -rf
fi
cp -R "$cache/$key/." "$out/"

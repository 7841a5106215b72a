#!/usr/bin/env bash
# Trunk post_build hook: the training workers' modules, into $TRUNK_STAGING_DIR/train/:
#   cpu          the CPU engine: the very module Trunk just built for the page (no features),
#                through wasm-bindgen and wasm-opt for speed instead of size;
#   cpu-relaxed  the same crate built with relaxed SIMD (fused multiply-add), in a target
#                directory of its own (the flag changes every crate's build); the page loads it
#                where the browser validates relaxed SIMD;
#   gpu          the crate with the `gpu` feature: the GPU engine on WebGPU (wgpu), in a target
#                directory of its own too (cargo leaves the last build's module at the one path
#                a target directory has for it, and does not copy a finished build there again).
# FASHION_WORKERS lists the modules to build (default: all three); one not built is simply not
# offered by the page (the GPU one: "still building" where WebGPU would be).
#
# `build-worker.sh --warm-cache` does the same work without Trunk and only fills the cache of
# finished modules (wasm-bindgen's output after wasm-opt, keyed by the compiled module's bytes,
# the optimiser's flags and both tools' versions), so a later page build takes them as they are;
# `--build-only` only compiles (scripts/test.sh compiles first, then optimises in the background).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${CARGO_TARGET_DIR:=$HOME/.cache/fashion-mlp/target}"
export CARGO_TARGET_DIR
# Trunk's release builds use cargo's release profile, or FASHION_PROFILE's (scripts/test.sh
# builds in the `ci` profile, see Cargo.toml); its debug builds use cargo's dev profile.
if [ "${TRUNK_PROFILE:-release}" = release ]; then profile="${FASHION_PROFILE:-release}"; else profile=dev; fi
dir="$profile"; [ "$profile" = dev ] && dir=debug
mode="${1:-}"
if [ "$mode" = --warm-cache ] || [ "$mode" = --build-only ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
else
  : "${TRUNK_STAGING_DIR:?run by trunk (or pass --warm-cache)}"
  out="$TRUNK_STAGING_DIR/train"
fi
mkdir -p "$out"
workers="${FASHION_WORKERS:-cpu cpu-relaxed gpu}"

# The wasm features to allow are the page module's, written once in www/index.html.
read -r -a features <<< "$(sed -n 's/.*data-wasm-opt-params="\([^"]*\)".*/\1/p' "$ROOT/www/index.html")"
[ ${#features[@]} -gt 0 ] || { echo "no data-wasm-opt-params in www/index.html" >&2; exit 1; }
level="${FASHION_WASM_OPT_LEVEL:-2}"
case "$level" in 1|2|3|4|s|z) ;; *) echo "FASHION_WASM_OPT_LEVEL must be 1, 2, 3, 4, s or z (got $level)" >&2; exit 1;; esac

# finish NAME WASM [EXTRA_WASM_OPT_FLAGS...]: wasm-bindgen and wasm-opt of WASM into $out/NAME.js
# and $out/NAME_bg.wasm, through the cache.
finish() {
  [ "$mode" = --build-only ] && return
  local name="$1" wasm="$2"; shift 2
  local bindgen=(wasm-bindgen --target web --no-typescript --out-name "$name")
  if [ "$profile" = dev ] || [ "${FASHION_WASM_OPT:-1}" = 0 ]; then
    "${bindgen[@]}" --out-dir "$out" "$wasm"
    return
  fi
  local opt=("-O$level" "${features[@]}" "$@")
  local cache="$CARGO_TARGET_DIR/worker-opt"
  local key
  key="$({ sha256sum < "$wasm"; echo "$name ${bindgen[*]} $(wasm-bindgen --version) ${opt[*]} $(wasm-opt --version)"; } | sha256sum | cut -c1-24)"
  if [ ! -d "$cache/$key" ]; then
    local part="$cache/$key.part"
    rm -rf "$part" && mkdir -p "$part"
    "${bindgen[@]}" --out-dir "$part" "$wasm"
    wasm-opt "${opt[@]}" "$part/${name}_bg.wasm" -o "$part/${name}_bg.opt.wasm"
    mv "$part/${name}_bg.opt.wasm" "$part/${name}_bg.wasm"
    mv "$part" "$cache/$key"
    # A cache, not an archive: the eight newest modules (a few builds of each kind).
    ls -dt "$cache"/*/ | tail -n +9 | xargs -r rm -rf
  fi
  cp -R "$cache/$key/." "$out/"
}

build() {
  cargo build --profile "$profile" --target wasm32-unknown-unknown --lib --manifest-path "$ROOT/Cargo.toml" --quiet "$@"
}

for w in $workers; do
  case "$w" in
    cpu)
      # The page's own build (Trunk has just made it; a warm-cache run makes it here).
      build --no-default-features
      finish cpu "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$dir/fashion_mlp.wasm"
      ;;
    cpu-relaxed)
      CARGO_TARGET_DIR="$CARGO_TARGET_DIR/relaxed" \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" \
        build --no-default-features
      finish cpu-relaxed "$CARGO_TARGET_DIR/relaxed/wasm32-unknown-unknown/$dir/fashion_mlp.wasm" --enable-relaxed-simd
      ;;
    gpu)
      CARGO_TARGET_DIR="$CARGO_TARGET_DIR/gpu-worker" build --no-default-features --features gpu
      finish gpu "$CARGO_TARGET_DIR/gpu-worker/wasm32-unknown-unknown/$dir/fashion_mlp.wasm"
      ;;
    *) echo "FASHION_WORKERS: unknown module '$w' (expected cpu, cpu-relaxed, gpu)" >&2; exit 1 ;;
  esac
done

# Which modules this build has, for the page (js/trainers.js).
present=()
for m in cpu cpu-relaxed gpu; do [ -f "$out/$m.js" ] && present+=("\"$m\""); done
(IFS=,; echo "{\"modules\": [${present[*]}]}") > "$out/modules.json"

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
# `build-worker.sh --late DIST` builds FASHION_WORKERS into DIST/train of a page already served
# (scripts/run.sh's first run serves the page with the CPU module at once): while it builds,
# DIST/train/modules.json says what is being built and how far cargo has got, for the page to show
# and to pick the modules up when they are there.
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
elif [ "$mode" = --late ]; then
  out="${2:?--late DIST}/train"
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

# modules.json: the modules present in $out, and (late builds) what is still being built.
write_modules() {
  local present=() m
  for m in cpu cpu-relaxed gpu; do [ -f "$out/$m.js" ] && present+=("\"$m\""); done
  (IFS=,; echo "{\"modules\": [${present[*]}]${1:+, \"building\": $1}}") > "$out/modules.json.part"
  mv "$out/modules.json.part" "$out/modules.json"
}

late_started="$(date +%s)"
build() {
  local args=(--profile "$profile" --target wasm32-unknown-unknown --lib --manifest-path "$ROOT/Cargo.toml")
  if [ "$mode" != --late ]; then
    cargo build "${args[@]}" --quiet "$@"
    return
  fi
  # A late build reports its progress: units compiled out of the crates the build needs
  # (`cargo tree` counts each crate once; build scripts make cargo's own count a little larger).
  local total built=0 line
  total="$(cargo tree --target wasm32-unknown-unknown --manifest-path "$ROOT/Cargo.toml" "$@" -e normal,build \
    --prefix none --format '{p}' 2>/dev/null | sort -u | wc -l)"
  report() { write_modules "{\"modules\": \"$late_list\", \"done\": $built, \"total\": $total, \"started_s\": $late_started, \"now_s\": $(date +%s)}"; }
  report
  while IFS= read -r line; do
    case "$line" in *'"reason":"compiler-artifact"'*) built=$((built + 1)); report ;; esac
  done < <(cargo build "${args[@]}" --message-format json-render-diagnostics "$@")
  wait $! || { echo "cargo build $* failed (its errors are above)" >&2; return 1; }
}

late_list="$workers"
# However a late build ends, the page stops waiting for it: modules.json lists what is there.
[ "$mode" = --late ] && trap 'write_modules' EXIT
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

  late_list="${late_list#"$w"}"; late_list="${late_list# }"
done

# Which modules this build has, for the page (js/trainers.js).
write_modules

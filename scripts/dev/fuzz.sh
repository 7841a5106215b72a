#!/usr/bin/env bash
# Fuzzes every reader of a stranger's bytes with cargo-fuzz (libFuzzer) and keeps what it learns:
# the minimised corpus goes to tests/fuzz/corpus/<target>/, any crasher to
# tests/fuzz/crashes/<target>/ (both replayed by `cargo test --release --test native fuzz_replay::` in CI), and each
# run's executions to tests/fuzz/ledger.tsv. A run starts from the kept corpus, so runs add up;
# `scripts/dev/fuzz.sh --totals` prints the executions per target so far.
#
#   scripts/dev/fuzz.sh                          # every target, 10 million executions each
#   RUNS=100000 scripts/dev/fuzz.sh csv          # one target, fewer executions
#   MINUTES=5 scripts/dev/fuzz.sh                # every target, at most 5 minutes each
#
# Not part of the README's two commands: it installs a nightly toolchain and cargo-fuzz (once,
# into the tools cache) and takes hours on 2 cores. Prints one JSON line per target.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LEDGER="$ROOT/tests/fuzz/ledger.tsv"
ALL=(idx gzip csv bundle picture safetensors pytorch pickle zip legacy checkpoint rows dims png)

if [ "${1:-}" = "--totals" ]; then
  awk -F'\t' 'NR > 1 { n[$2] += $3; s[$2] += $4; c[$2] += $5 }
    END { for (t in n) printf "{\"target\":\"%s\",\"executions\":%d,\"seconds\":%d,\"crashers\":%d}\n", t, n[t], s[t], c[t] }' "$LEDGER" | sort
  exit 0
fi

source "$ROOT/scripts/build/setup.sh"
RUNS="${RUNS:-10000000}"
MINUTES="${MINUTES:-0}"
CARGO_FUZZ_VERSION=0.13.2
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")

if ! rustup toolchain list | grep -q '^nightly'; then
  log "rustup: installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if [ "$(cargo-fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  log "cargo: installing cargo-fuzz $CARGO_FUZZ_VERSION (a few minutes, once)"
  CARGO_TARGET_DIR="$FASHION_TOOLS/build" cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$FASHION_TOOLS" --quiet
fi

# Instrumented builds live apart from the normal ones (different flags would evict them).
export CARGO_TARGET_DIR="$HOME/.cache/fashion-mlp/fuzz-target"
WORK="$HOME/.cache/fashion-mlp/fuzz"
mkdir -p "$WORK"
python3 "$ROOT/scripts/dev/fuzz-seeds.py" "$WORK/seeds"
[ -f "$LEDGER" ] || printf 'date\ttarget\texecutions\tseconds\tcrashers\tcommit\n' > "$LEDGER"

cd "$ROOT/fuzz"
# No sanitizer: the code is safe Rust, so ASan would only slow it; panics, hangs and the
# allocator's limits (fuzz/src/lib.rs) are what is being looked for.
FLAGS=(--release --sanitizer none)
cargo +nightly fuzz build "${FLAGS[@]}"
LIMITS=(-max_len=65536 -timeout=10 -rss_limit_mb=1024)
[ "$MINUTES" -gt 0 ] && LIMITS+=(-max_total_time=$((MINUTES * 60)))
for t in "${TARGETS[@]}"; do
  corpus="$WORK/corpus/$t"; kept="$ROOT/tests/fuzz/corpus/$t"; crashes="$ROOT/tests/fuzz/crashes/$t"
  artifacts="$WORK/artifacts/$t"
  mkdir -p "$corpus" "$kept" "$artifacts"
  # This run's findings only; its own log (two runs of one target may share the corpus, not
  # the log their executions are read from). libFuzzer's timeouts are wall-clock: do not pause
  # a fuzzer (SIGSTOP) or the pause is reported as a hang.
  rm -f "$artifacts"/*
  log_file="$WORK/$t.$$.log"
  cp "$WORK/seeds/$t"/* "$corpus"/
  cp "$kept"/* "$corpus"/ 2>/dev/null || true
  log "fuzzing $t: $RUNS executions${MINUTES:+ or $MINUTES minutes}"
  start=$(date +%s)
  set +e
  # The fuzz binary directly: cargo-fuzz would add its own -artifact_prefix after ours.
  "$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/$t" "$corpus" -runs="$RUNS" "${LIMITS[@]}" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log_file" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  execs=$(awk '/stat::number_of_executed_units/{print $2}' "$log_file" | tail -1)
  found=$(ls "$artifacts" | wc -l)
  if [ "$found" -gt 0 ]; then
    mkdir -p "$crashes"
    cp "$artifacts"/* "$crashes"/
  fi
  # Keep a minimised corpus: the inputs that reach distinct code, small enough to commit.
  rm -rf "$corpus.min"; mkdir -p "$corpus.min"
  "$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/$t" -merge=1 "$corpus.min" "$corpus" >/dev/null 2>&1 || true
  rm -f "$kept"/*
  cp "$corpus.min"/* "$kept"/
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%F)" "$t" "${execs:-0}" "$secs" "$found" "$(git -C "$ROOT" rev-parse --short HEAD)" >> "$LEDGER"
  printf '{"target":"%s","executions":%s,"seconds":%s,"exit":%s,"crashers":%s,"corpus":%s,"corpus_bytes":%s}\n' \
    "$t" "${execs:-0}" "$secs" "$rc" "$found" "$(ls "$kept" | wc -l)" "$(du -sb "$kept" | cut -f1)"
done

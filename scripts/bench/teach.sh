#!/usr/bin/env bash
# Teaching the model drawings, measured (issue 25's figures): for each count per class, outline
# drawings of that many training images per class (`fashion drawings`: a 2-pixel-wide stroke
# around the garment's silhouette at 28x28, nothing inside, read through the pad's preprocessing),
# taught to the shipped model (`fashion finetune`, default options, one CPU thread as the page's
# worker), scoring the model before and after on outline drawings of the whole test set and on
# the test set itself. Prints JSON lines and a table.
#   scripts/bench/teach.sh            (PER_CLASS="10 20", MODEL=models/ready.safetensors,
#                                      EXTRA="--lr 0.001" to try other finetune options)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
cd "$ROOT"

PER_CLASS="${PER_CLASS:-10 20}"
MODEL="${MODEL:-models/ready.safetensors}"
EXTRA="${EXTRA:-}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

log "building the CLI (release)"
cargo build --release --bin fashion --quiet
FASHION="$CARGO_TARGET_DIR/release/fashion"

# Every test image drawn as an outline, scored before and after by `finetune --score`.
"$FASHION" drawings --from-test --per-class 1000 --seed 1 --out "$WORK/test-outlines.json" 2>/dev/null
for n in $PER_CLASS; do
  "$FASHION" drawings --per-class "$n" --seed 1 --out "$WORK/outlines-$n.json" 2>/dev/null
  # shellcheck disable=SC2086
  taught="$("$FASHION" finetune --threads 1 --json --model "$MODEL" --drawings "$WORK/outlines-$n.json" --score "$WORK/test-outlines.json" $EXTRA)"
  echo "{\"per_class\":$n,\"finetune\":$taught}"
done | tee "$WORK/lines.jsonl"

node - "$WORK/lines.jsonl" <<'NODE'
const fs = require('fs');
const pct = (a) => (100 * a).toFixed(2) + '%';
console.log('\n| per class | held-out drawings before -> after | outline test set before -> after | test set before -> after | teaching (folds included) |');
console.log('|---|---|---|---|---|');
for (const line of fs.readFileSync(process.argv[2], 'utf8').trim().split('\n')) {
  const r = JSON.parse(line), f = r.finetune;
  console.log(`| ${r.per_class} | ${pct(f.drawings_accuracy_before)} -> ${pct(f.drawings_accuracy_after)} | ${pct(f.score_accuracy_before)} -> ${pct(f.score_accuracy_after)} | ${pct(f.test_accuracy_before)} -> ${pct(f.test_accuracy_after)} | ${f.steps} steps, ${f.seconds.toFixed(1)} s |`);
}
NODE

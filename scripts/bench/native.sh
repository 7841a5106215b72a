#!/usr/bin/env bash
# Native training speed beside PyTorch on the same CPU, one run: `fashion bench` (the CPU engine
# and burn's ndarray reference) and PyTorch's benchmark of the same workload (the reference MLP
# and recipe, full 60k set), alternated per thread count so both see the same machine load.
# Prints the JSON lines (kept in a file too) and a table of samples/s with our ratio to PyTorch.
#   PYTORCH_BENCH=/path/to/peers/torch/run.sh scripts/bench/native.sh
#   (THREADS="1 2", BATCHES="64 256", OUT=file.jsonl; without PYTORCH_BENCH only ours is measured.
#   PyTorch's benchmark takes --threads, --batch-size and --epochs, and prints JSON with
#   samples_per_sec; PyPI's torch 2.15 wheel is what it was measured with.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
cd "$ROOT"

THREADS="${THREADS:-1 2}"
BATCHES="${BATCHES:-64 256}"
OUT="${OUT:-$HOME/.cache/fashion-mlp/bench/native-$(date +%Y%m%d-%H%M%S).jsonl}"
mkdir -p "$(dirname "$OUT")"
: > "$OUT"

log "building the CLI (release)"
cargo build --release --bin fashion --quiet
FASHION="$CARGO_TARGET_DIR/release/fashion"
batches_csv="$(echo $BATCHES | tr ' ' ',')"

echo "{\"where\":\"host\",\"when\":\"before\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"nproc\":$(nproc)}" | tee -a "$OUT"
for t in $THREADS; do
  log "ours, $t thread(s)"
  "$FASHION" bench --backends cpu,ndarray --threads "$t" --batch-sizes "$batches_csv" 2>/dev/null | grep '^{' | tee -a "$OUT"
  if [ -n "${PYTORCH_BENCH:-}" ]; then
    for b in $BATCHES; do
      log "PyTorch, $t thread(s), batch $b"
      # Two epochs: the second one is the steady state (PyTorch's first includes its warm-up).
      OMP_WAIT_POLICY=PASSIVE bash "$PYTORCH_BENCH" --threads "$t" --batch-size "$b" --epochs 2 2>/dev/null \
        | grep '^{' | python3 -c "import json,sys; [print(json.dumps({**json.loads(l), 'peer': 'pytorch', 'threads': $t, 'batch_size': $b})) for l in sys.stdin]" \
        | tee -a "$OUT"
    done
  fi
done
echo "{\"where\":\"host\",\"when\":\"after\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"nproc\":$(nproc)}" | tee -a "$OUT"
log "JSON lines: $OUT"

python3 - "$OUT" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
def ours(engine, t, b):
    return next((l['train_samples_per_sec'] for l in lines if l.get('engine') == engine and 'peer' not in l and l.get('threads') == t and l.get('batch_size') == b), None)
def torch(t, b):
    r = next((l for l in lines if l.get('peer') == 'pytorch' and l['threads'] == t and l['batch_size'] == b), None)
    if not r: return None
    # The steady state: the last epoch's rate (the first one includes PyTorch's warm-up).
    if r.get('epoch_seconds'):
        return r['train_samples'] / r['epoch_seconds'][-1]
    return r.get('samples_per_sec')
fmt = lambda v: f"{v:,.0f}" if v else '-'
ratio = lambda a, b: f"{a / b:.2f}x" if a and b else '-'
print('\nsamples/s (ratio = ours / PyTorch)')
print(f"{'threads':>8}{'batch':>7}{'CPU engine':>13}{'burn ndarray':>14}{'PyTorch':>10}{'engine/PyTorch':>16}{'ndarray/PyTorch':>17}")
for t in sorted({l['threads'] for l in lines if 'threads' in l}):
    for b in sorted({l['batch_size'] for l in lines if 'batch_size' in l}):
        c, n, p = ours('cpu', t, b), ours('autodiff', t, b), torch(t, b)
        print(f"{t:>8}{b:>7}{fmt(c):>13}{fmt(n):>14}{fmt(p):>10}{ratio(c, p):>16}{ratio(n, p):>17}")
for h in (l for l in lines if l.get('where') == 'host'):
    print(f"load average {h['when']}: {h['loadavg']} ({h['nproc']} cores)")
PY

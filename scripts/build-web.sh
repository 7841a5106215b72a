#!/usr/bin/env bash
# Builds dist/: the page and its CPU module (Trunk), the training worker's module (Trunk hook),
# and the dataset files served from the page's own origin.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${FASHION_DATA_DIR:=/usr/share/datasets/fashion-mnist}"
trunk build --release --offline
python3 scripts/stamp-sw.py dist
mkdir -p dist/data
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  cp "$FASHION_DATA_DIR/$f" dist/data/
done

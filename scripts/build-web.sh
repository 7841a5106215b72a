#!/usr/bin/env bash
# Builds dist/: the page and its CPU module (Trunk), the training worker's module (Trunk hook),
# and the dataset files served from the page's own origin.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${FASHION_DATA_DIR:=/usr/share/datasets/fashion-mnist}"
trunk build --release --offline
python3 scripts/harden-page.py dist
python3 scripts/stamp-sw.py dist
# The four official files (their names are written once, in src/data/dataset.rs).
mkdir -p dist/data
cp "$FASHION_DATA_DIR"/*-ubyte.gz dist/data/

#!/usr/bin/env bash
# Builds dist/: the page and its CPU module (Trunk), the training worker's module (Trunk hook),
# and the dataset files served from the page's own origin.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
: "${FASHION_DATA_DIR:=/usr/share/datasets/fashion-mnist}"
# FASHION_PROFILE picks the cargo profile of both modules (release unless set; scripts/test.sh
# sets `ci`).
trunk build --release --offline --cargo-profile "${FASHION_PROFILE:-release}"
python3 scripts/build/harden-page.py dist
python3 scripts/build/stamp-sw.py dist
# The four official files (their names are written once, in src/data/dataset.rs).
mkdir -p dist/data
cp "$FASHION_DATA_DIR"/*-ubyte.gz dist/data/

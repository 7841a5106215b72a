#!/usr/bin/env bash
# Builds dist/: the page and its CPU module (Trunk), the training worker's module (Trunk hook),
# and the dataset files served from the page's own origin.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
: "${FASHION_DATA_DIR:?set by scripts/build/setup.sh (scripts/run.sh and scripts/test.sh source it)}"
# FASHION_PROFILE picks the cargo profile of both modules (release unless set; scripts/test.sh
# sets `ci`). FASHION_TEST_API=1 builds the test flavour into dist-test/: the same page with its
# test interface (www/js/test-api.js, window.fashionTest), which the browser tests and benchmarks
# drive. The shipped page (dist/) has neither the file nor the mark that loads it.
if [ "${FASHION_TEST_API:-0}" = 1 ]; then dist=dist-test; else dist=dist; fi
trunk build --release --offline --cargo-profile "${FASHION_PROFILE:-release}" --dist "$dist"
if [ "$dist" = dist-test ]; then
  sed -i 's|<head>|<head>\n  <meta name="fashion-test-api" content="1">|' "$dist/index.html"
else
  rm -f "$dist/js/test-api.js"
fi
python3 scripts/build/harden-page.py "$dist"
python3 scripts/build/stamp-sw.py "$dist"
# The four official files (their names are written once, in src/data/dataset.rs).
mkdir -p "$dist/data"
cp "$FASHION_DATA_DIR"/*-ubyte.gz "$dist/data/"

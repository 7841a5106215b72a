#!/usr/bin/env bash
# What a GPU training step costs, measured first: natively on the wgpu device (lavapipe here, a real
# GPU where there is one) with `fashion bench --gpu-costs`, then in Chromium on its WebGPU adapter
# (SwiftShader here): an empty dispatch, one submit, kernels and ms per step for burn's autodiff
# and the fused step, and one 64x784x256 matmul as burn runs it. JSON lines.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/scripts/build/setup.sh"
setup_web
build_web_if_missing
cd "$ROOT"
cargo build --release --bin fashion --quiet
"$CARGO_TARGET_DIR/release/fashion" bench --gpu-costs --batch-sizes 64,256,1024
node tests/e2e/gpu-costs.mjs "$@"

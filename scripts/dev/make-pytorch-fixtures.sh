#!/usr/bin/env bash
# Regenerates tests/fixtures/pytorch/ with real PyTorch (not run by CI; the outputs are committed).
# The venv lives outside the repository: PyPI's torch wheel pulls ~4 GB of CUDA wheels, but the
# script only uses the CPU.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${FASHION_TORCH_VENV:-$HOME/.cache/fashion-mlp/torch-venv}"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import torch, safetensors, numpy' 2>/dev/null; then
    "$venv/bin/pip" install --quiet torch safetensors numpy
fi
exec "$venv/bin/python" "$here/make-pytorch-fixtures.py" "$@"

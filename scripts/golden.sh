#!/usr/bin/env bash
# Regenerate the forecast crate's golden files (forecast/testdata/golden) from the PyTorch
# reference (forecast/reference/stgcn.py), then run the Rust test that checks against them.
#
# Usage:
#   scripts/golden.sh [PYTHON]
#
# PYTHON must have torch==2.13.0, safetensors and numpy (default: $TORCH_PYTHON, else python3).
# `import torch` needs the full CUDA wheel set (about 4.7 GB), so CI does not run this; a
# throwaway virtualenv works:
#   python3 -m venv .local/torchenv && .local/torchenv/bin/pip install torch==2.13.0 safetensors numpy
#   scripts/golden.sh .local/torchenv/bin/python
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYTHON="${1:-${TORCH_PYTHON:-python3}}"
# A path given relative to the caller's directory still works after the cd below.
if [[ "$PYTHON" == */* ]]; then
    PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"
fi
cd "$REPO_ROOT"
"$PYTHON" -c 'import torch, safetensors, numpy' 2>/dev/null ||
    die "$PYTHON cannot import torch, safetensors and numpy (see the usage at the top of this script)"

info "writing golden files with $("$PYTHON" -c 'import torch; print("torch", torch.__version__)')"
(cd forecast/reference && PYTHONDONTWRITEBYTECODE=1 "$PYTHON" golden.py "$REPO_ROOT/forecast/testdata/golden")
chmod 644 forecast/testdata/golden/*

bash "$SCRIPTS_DIR/libtorch.sh" install
info "checking the Rust model against them"
cargo test -p forecast --test golden

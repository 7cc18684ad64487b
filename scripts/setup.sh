#!/usr/bin/env bash
# Set up ./.venv with genpolicy (editable) plus the box2d, bullet, atari, minatar and dev extras.
#
# torch: an already-installed torch is kept (install your CUDA/ROCm build first if you want one);
# otherwise torch==$GENPOLICY_TORCH (default 2.13.0) is installed before genpolicy, so pip never
# resolves a bare "torch" requirement on its own (which would pull the newest CUDA build, several GB,
# on a CPU-only machine). Set GENPOLICY_EXTRAS to change the extras (default: box2d,bullet,atari,minatar,dev).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PY=.venv/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  "$PY" -m pip install -q "torch==${GENPOLICY_TORCH:-2.13.0}"
fi
"$PY" -m pip install -q -e ".[${GENPOLICY_EXTRAS:-box2d,bullet,atari,minatar,dev}]"
"$PY" -c "import torch, genpolicy; print(f'genpolicy {genpolicy.__version__} ready (torch {torch.__version__})')"

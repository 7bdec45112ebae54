#!/usr/bin/env bash
# Build the pinned neural-tangents reference environment `.venv-nt` (gitignored) at the repo root.
#
#   bash experiments/nt_reference/setup_env.sh
#
# neural-tangents 0.6.5 needs an old JAX (0.4.35) and its import pulls TensorFlow (~2 GB),
# so it lives in its own venv and is only called through subprocesses
# (experiments/nt_reference/compare.py, experiments/benchmarks/ntk_speed.py).
# Not needed for the default test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${NT_VENV:-$ROOT/.venv-nt}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install "jax==0.4.35" "jaxlib==0.4.35" "neural-tangents==0.6.5"
"$VENV/bin/python" - <<'PY'
import jax, neural_tangents as nt
print("neural-tangents", nt.__version__ if hasattr(nt, "__version__") else "?", "jax", jax.__version__)
PY
echo "OK: $VENV"

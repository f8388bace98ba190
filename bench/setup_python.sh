#!/usr/bin/env bash
# Creates the Python virtualenv the framework benchmark uses
# (.build/bench-venv under the package root, gitignored) and installs the
# pinned packages of bench/requirements-frameworks.txt into it: numpy,
# PyTorch, TensorFlow (CPU) and Keras 3.
#
# Idempotent: does nothing when the venv exists and was set up from the
# current requirements file (a stamp file records its checksum).
#
#   bench/setup_python.sh            # from the package root, or anywhere
#   PYTHON=python3.11 bench/setup_python.sh   # choose the interpreter
#
# Writes: .build/bench-venv/ (about 7 GB, most of it the nvidia-* CUDA
# packages that PyPI's Linux torch wheel depends on; only the CPU is used).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BENCH_VENV:-$root/.build/bench-venv}"
requirements="$root/bench/requirements-frameworks.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "setup_python: $venv is up to date"
  exit 0
fi

echo "setup_python: creating $venv with $("$python" --version 2>&1)"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$requirements"
# Check that everything imports before declaring the venv ready.
TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" - <<'PY'
import numpy, torch, tensorflow as tf, keras
print("setup_python: numpy", numpy.__version__, "| torch", torch.__version__,
      "| tensorflow", tf.__version__, "| keras", keras.__version__)
PY
echo "$wanted" > "$stamp"

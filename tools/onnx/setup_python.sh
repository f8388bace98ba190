#!/usr/bin/env bash
# Creates the Python virtualenv that tools/onnx/make_fixtures.py uses
# (.build/onnx-venv under the package root, gitignored) with the pinned
# packages of tools/onnx/requirements.txt: onnx (its checker), ONNX Runtime
# and PyTorch (with onnxscript, for torch.onnx.export). Idempotent, as
# bench/setup_python.sh: a stamp file records the requirements' checksum.
#   tools/onnx/setup_python.sh
#   PYTHON=python3.11 tools/onnx/setup_python.sh
# Writes: .build/onnx-venv/ (about 5.5 GB, most of it the nvidia-* CUDA
# packages that PyPI's Linux torch wheel depends on; only the CPU is used).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${ONNX_VENV:-$root/.build/onnx-venv}"
requirements="$root/tools/onnx/requirements.txt"
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
"$venv/bin/python" - <<'PY'
import numpy, onnx, onnxruntime, torch
print("setup_python: numpy", numpy.__version__, "| onnx", onnx.__version__,
      "| onnxruntime", onnxruntime.__version__, "| torch", torch.__version__)
PY
echo "$wanted" > "$stamp"

#!/usr/bin/env bash
# Makes the fixtures of tests/testthat/test-onnx.R, once, with independent
# implementations of ONNX that the tests do not need:
#   1. tools/onnx/export_models.R writes rustnn's files of the test models;
#   2. tools/onnx/make_fixtures.py checks each with the onnx checker, runs it
#      in ONNX Runtime and keeps the outputs, and exports a small PyTorch
#      CNN with torch.onnx.export, keeping the file and PyTorch's outputs.
# Writes tests/testthat/fixtures/onnx/ (outputs as float32, a log of what
# was checked). Needs rustnn installed where R finds it (R_LIBS) and the
# venv of tools/onnx/setup_python.sh.
#   tools/onnx/make_fixtures.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
venv="${ONNX_VENV:-$root/.build/onnx-venv}"
tools/onnx/setup_python.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
Rscript tools/onnx/export_models.R "$work"
"$venv/bin/python" tools/onnx/make_fixtures.py "$work" tests/testthat/fixtures/onnx

#!/usr/bin/env bash
# Set up, build and install rustnn, then train the tutorial networks.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export RUSTNN_TARGET_DIR="$PWD/.build/target"
mkdir -p .build/lib
R CMD INSTALL --no-multiarch --library=.build/lib . >.build/install.log 2>&1 ||
  { tail -40 .build/install.log; exit 1; }
R_LIBS=".build/lib" Rscript demo/tutorial_networks.R

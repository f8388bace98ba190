#!/usr/bin/env bash
# rustnn against plain R, PyTorch and Keras 3 (TensorFlow, CPU): the seven
# training workloads of bench/frameworks-workloads.csv (XOR, planar flower,
# iris, two Fashion-MNIST MLPs, a Fashion-MNIST CNN, a synthetic MLP) timed
# in every tool on identical data with 2 threads, as seconds per epoch
# (median of 3 fits), with the accuracy each reaches.
#
#   R_LIBS=.build/lib bench/run_frameworks.sh      # from the package root
#
# Steps:
#   1. bench/setup_python.sh: the virtualenv .build/bench-venv with pinned
#      torch, tensorflow-cpu, keras, numpy (skipped when up to date)
#   2. bench/export_data.R: XOR, planar flower, iris and synthetic data as
#      CSV in bench/data/ (gitignored); Fashion-MNIST is read from its IDX
#      files by each side (FASHION_MNIST_PATH overrides the directory;
#      default: the one load_fashion_mnist() uses)
#   3. bench/bench_frameworks.R: rustnn (2 threads and 1 thread) and plain R
#   4. bench/bench_frameworks.py --tool pytorch, then --tool keras
#   5. bench/report_frameworks.R writes
#        bench/results/frameworks-YYYY-MM-DD.md and .csv,
#        vignettes/framework-timings.csv (a copy of that CSV) and
#        vignettes/framework-timings-meta.csv (machine, versions, command)
# Raw per-tool results go to .build/bench-frameworks/ (gitignored).
#
# Needs rustnn installed where R finds it (R_LIBS), Python 3 with venv and
# pip access to PyPI for the first run, and Fashion-MNIST (Debian:
# apt-get install dataset-fashion-mnist). Takes about 10 minutes on 2 cores
# (most of it Keras's W1 and W2: thousands of tiny epochs), plus about 2
# minutes and 7 GB for the virtualenv the first time.
# Environment: RUNS (default 3) fits per timing, THREADS (default 2),
# BENCH_VENV (default .build/bench-venv) for the virtualenv,
# WORKLOADS (default W1,W2,W3,W4,W5,W6,W7) for a partial run.
set -euo pipefail

command="bench/run_frameworks.sh${*:+ $*}"
if [[ -n "${R_LIBS:-}" && "${R_LIBS}" != /* && -d "${R_LIBS}" ]]; then
  command="R_LIBS=$R_LIBS $command"
  R_LIBS="$(cd "$R_LIBS" && pwd)"   # the caller's relative path, before the cd below
  export R_LIBS
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

runs="${RUNS:-3}"
threads="${THREADS:-2}"
workloads="${WORKLOADS:-W1,W2,W3,W4,W5,W6,W7}"
for var in RUNS THREADS WORKLOADS; do
  [[ -n "${!var:-}" ]] && command="$var=${!var} $command"
done
date="$(date +%F)"
start=$SECONDS
python="${BENCH_VENV:-.build/bench-venv}/bin/python"
raw=.build/bench-frameworks
mkdir -p "$raw"

if ! Rscript -e 'suppressPackageStartupMessages(library(rustnn))' >/dev/null 2>&1; then
  echo "run_frameworks: R cannot load rustnn; install it and set R_LIBS, e.g." >&2
  echo "  R CMD INSTALL --no-multiarch --library=.build/lib . && R_LIBS=.build/lib bench/run_frameworks.sh" >&2
  exit 1
fi

step() { printf '\n== %s (%ds)\n' "$1" $((SECONDS - start)); }

step "Python virtualenv"
bench/setup_python.sh

step "Exporting data"
Rscript bench/export_data.R bench/data

step "rustnn and plain R"
Rscript bench/bench_frameworks.R --runs="$runs" --threads="$threads" --workloads="$workloads" \
  --out="$raw/r.csv"

for tool in pytorch keras; do
  step "$tool"
  "$python" bench/bench_frameworks.py --tool "$tool" --runs "$runs" --threads "$threads" \
    --workloads "$workloads" --out "$raw/$tool.csv" 2> >(grep -v -E '^(WARNING: All log messages|I0000 |To enable the following)' >&2)
done
"$python" bench/bench_frameworks.py --versions "$raw/versions.csv"

step "Report"
Rscript bench/report_frameworks.R --raw="$raw" --date="$date" --runs="$runs" \
  --command="$command"

printf '\nrun_frameworks: done in %d min %d s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))

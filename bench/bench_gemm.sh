#!/usr/bin/env bash
# GEMM microbenchmark: rustnn's float32 matrix multiply (the one every dense
# and convolution layer calls; src/rust/core/examples/gemm.rs) against
# OpenBLAS's sgemm through NumPy (bench/bench_gemm.py), both with 1 and 2
# threads, in GFLOP/s (2 m k n flops per product, best of 5 rounds of
# ~0.3 s each), at the shapes m,k,n (A m x k times B k x n):
#   128,128,128  512,512,512  2048,2048,2048    square
#   32,784,100   784,32,100                     W4 (784-100-10, batch 32):
#                                               forward, weight gradient
#   128,784,512  784,128,512  128,512,10        W5 (784-512-10, batch 128):
#                                               forward, weight gradient,
#                                               output layer
#
#   bench/bench_gemm.sh      # from the package root, or anywhere
#
# Steps: builds the example with cargo (cargo build --release --example gemm
# in src/rust; CARGO_TARGET_DIR, if set, is used as cargo's target
# directory), runs it and bench_gemm.py for each thread count, then
# bench_gemm.py --report. Writes
#   bench/results/gemm-YYYY-MM-DD.csv   tool (rustnn, openblas), m, k, n,
#                                       threads, seconds, gflops
#   bench/results/gemm-YYYY-MM-DD.md    date, CPU, NumPy and OpenBLAS
#                                       versions, the "sgemm peak (this run)"
#                                       (OpenBLAS, 2 threads, 2048^3) and one
#                                       row per shape and thread count with
#                                       both GFLOP/s and rustnn / OpenBLAS
# Needs cargo and the benchmark virtualenv (bench/setup_python.sh). Takes
# about a minute on 2 cores, plus the first cargo build (about a minute).
# Environment: THREADS (default "1 2"), SHAPES (default: the list above,
# space-separated) for a partial run, BENCH_VENV (default .build/bench-venv)
# for the virtualenv.
set -euo pipefail

command="bench/bench_gemm.sh${*:+ $*}"
for var in THREADS SHAPES; do
  [[ -n "${!var:-}" ]] && command="$var=\"${!var}\" $command"
done
if [[ -n "${CARGO_TARGET_DIR:-}" && "$CARGO_TARGET_DIR" != /* ]]; then
  CARGO_TARGET_DIR="$(pwd)/$CARGO_TARGET_DIR"   # the caller's relative path, before the cd below
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

threads="${THREADS:-1 2}"
shapes="${SHAPES:-128,128,128 512,512,512 2048,2048,2048 32,784,100 784,32,100 128,784,512 784,128,512 128,512,10}"
python="${BENCH_VENV:-.build/bench-venv}/bin/python"
target="${CARGO_TARGET_DIR:-$root/src/rust/target}"
date="$(date +%F)"
csv="bench/results/gemm-$date.csv"
md="bench/results/gemm-$date.md"

if [[ ! -x "$python" ]]; then
  echo "bench_gemm: no $python; run bench/setup_python.sh first" >&2
  exit 1
fi

echo "== Building the gemm example"
PATH="$PATH:$HOME/.cargo/bin" cargo build --release --example gemm \
  --manifest-path src/rust/Cargo.toml --target-dir "$target"

mkdir -p bench/results
echo "tool,m,k,n,threads,seconds,gflops" > "$csv"
for t in $threads; do
  echo "== rustnn, $t thread(s)"
  # shellcheck disable=SC2086  # the shapes are separate arguments
  "$target/release/examples/gemm" "$t" $shapes | tail -n +2 | tee /dev/stderr \
    | sed 's/^/rustnn,/' >> "$csv"
  echo "== OpenBLAS (NumPy), $t thread(s)"
  # shellcheck disable=SC2086
  "$python" bench/bench_gemm.py --threads="$t" $shapes | tail -n +2 | tee /dev/stderr \
    | sed 's/^/openblas,/' >> "$csv"
done

"$python" bench/bench_gemm.py --report="$csv" --out="$md" --date="$date" --command="$command"
echo
cat "$md"
echo
echo "bench_gemm: wrote $csv and $md"

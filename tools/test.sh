#!/usr/bin/env bash
# Set up, then run every test: the Rust core (fmt, clippy, cargo test, a
# 40-second fuzz run), the build for Windows, macOS and ARM Linux as far as
# it goes here (tools/cross_check.sh), the
# generated wrappers' freshness, testthat on the installed package, the
# numeric tests on the AVX2 and SSE2 kernels under emulation
# (tools/cpu_paths.sh), the
# vignettes (built under 60 s each, with their plots), and R CMD build +
# R CMD check --as-cran (no errors, warnings or notes) on the tarball,
# offline. Ends with the line
# "N passed, N failed" (Rust tests + the cross-platform build + testthat
# tests + the tests on emulated CPUs + the vignette check + the R CMD check
# run)
# and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || exit 1
export RUSTNN_TARGET_DIR="$PWD/.build/target"
out=.build/test
rm -rf "$out" && mkdir -p "$out/lib"
passed=0
failed=0
step_failed() { echo "FAILED: $1"; failed=$((failed + 1)); }

# Adds the counts of cargo test's "test result" lines in log $1 to the
# totals; a log without one (the build failed) counts as a failure.
count_cargo_tests() {
  passed=$((passed + $(grep -Eo '[0-9]+ passed' "$1" | awk '{s+=$1} END {print s+0}')))
  failed=$((failed + $(grep -Eo '[0-9]+ failed' "$1" | awk '{s+=$1} END {print s+0}')))
  grep -q "test result" "$1" || failed=$((failed + 1))
}

echo "== Rust: fmt, clippy, cargo test"
for crate in src/rust src/rust/fuzz; do
  (cd "$crate" && cargo fmt --check) || step_failed "cargo fmt --check in $crate"
  (cd "$crate" && cargo clippy --quiet --all-targets -- -D warnings) || step_failed "cargo clippy in $crate"
done
(cd src/rust && cargo test -p rustnn-core 2>&1) | tee "$out/cargo.log"
count_cargo_tests "$out/cargo.log"

echo "== Rust: fuzzing the engine's API (40 s of random cases; src/rust/fuzz)"
(cd src/rust/fuzz && cargo test --release --locked 2>&1) | tee "$out/fuzz.log"
count_cargo_tests "$out/fuzz.log"

echo "== Other platforms: cargo check for Windows, macOS and ARM Linux; the Windows DLL with mingw-w64"
# What can be built here of the Windows and macOS builds (tools/cross_check.sh).
if tools/cross_check.sh "$out/cross" >"$out/cross.log" 2>&1; then
  grep -E "^(--|rustnn.dll|unpacked)" "$out/cross.log"
  passed=$((passed + 1))
else
  grep -E "^(--|FAILED|error)" "$out/cross.log"; tail -30 "$out/cross.log"
  step_failed "tools/cross_check.sh"
fi

echo "== Vendored crates match Cargo.lock"
# The offline build uses src/rust/vendor.tar.xz; tools/vendor.sh re-makes it.
[ "$(sha256sum src/rust/Cargo.lock | cut -d' ' -f1)" = "$(cat src/rust/vendor.sha256)" ] ||
  step_failed "src/rust/vendor.tar.xz is stale: run tools/vendor.sh"

echo "== Generated wrappers are up to date"
Rscript tools/document.R --check >"$out/document.log" 2>&1 || { tail -20 "$out/document.log"; step_failed "R/extendr-wrappers.R is stale"; }

echo "== testthat"
if R CMD INSTALL --no-multiarch --library="$out/lib" . >"$out/install.log" 2>&1; then
  NOT_CRAN=true R_LIBS="$out/lib" Rscript -e '
    res <- as.data.frame(testthat::test_dir("tests/testthat", package = "rustnn",
      load_package = "installed", reporter = "progress", stop_on_failure = FALSE))
    ok <- res$failed == 0 & !res$error & res$skipped == 0
    writeLines(as.character(c(sum(ok), sum(!ok))), ".build/test/testthat.counts")
    if (any(res$skipped > 0)) print(res[res$skipped > 0, c("file", "test")])
  ' || step_failed "testthat run"
  if [ -f "$out/testthat.counts" ]; then
    passed=$((passed + $(sed -n 1p "$out/testthat.counts")))
    failed=$((failed + $(sed -n 2p "$out/testthat.counts")))
  fi
else
  tail -40 "$out/install.log"
  step_failed "R CMD INSTALL"
fi

echo "== The numeric tests on the AVX2 and the baseline (SSE2) kernels, under qemu"
if [ -d "$out/lib/rustnn" ]; then
  tools/cpu_paths.sh "$out/lib" "$out/cpu" 2>&1 | tee "$out/cpu.log" | grep -E "^(--|CPU paths|FAILED)|passed, "
  if [ -f "$out/cpu/counts" ]; then
    passed=$((passed + $(sed -n 1p "$out/cpu/counts")))
    failed=$((failed + $(sed -n 2p "$out/cpu/counts")))
  else
    tail -30 "$out/cpu.log"
    step_failed "tools/cpu_paths.sh"
  fi
else
  step_failed "CPU paths (rustnn is not installed)"
fi

echo "== Vignettes: each builds in under 60 s and shows its plots"
if [ -d "$out/lib/rustnn" ] && R_LIBS="$out/lib" Rscript tools/vignette_times.R; then
  passed=$((passed + 1))
else
  step_failed "vignettes"
fi

echo "== R CMD build + R CMD check --as-cran, with the network cut off"
# In a network namespace with no interfaces (unshare -n, needs root), the
# check's install of the tarball proves the vendored crates suffice. The
# settings below turn off only what needs the network or a 1.4 GB font
# package: CRAN's remote incoming checks (its package database, URLs), the
# clock check (a time server), and the inconsolata font of the PDF manual
# (texlive-fonts-extra), which is then typeset in Times.
offline=""
if unshare -n true 2>/dev/null; then offline="unshare -n"; else echo "(unshare -n unavailable: building and checking with the network up)"; fi
(
  cd "$out" &&
  $offline R CMD build ../.. >build.log 2>&1 &&
  $offline env _R_CHECK_TESTS_NLINES_=0 _R_CHECK_CRAN_INCOMING_REMOTE_=false \
    _R_CHECK_SYSTEM_CLOCK_=false R_RD4PDF="times,hyper" \
    R CMD check --as-cran rustnn_*.tar.gz >check.log 2>&1
)
check_status=$?
cat "$out/check.log" | grep -E "^\* checking .*(NOTE|WARNING|ERROR)|^Status" || true
if [ $check_status -eq 0 ] && grep -qE "^Status: OK" "$out/check.log"; then
  passed=$((passed + 1))
else
  grep -B2 -A12 -E "(NOTE|WARNING|ERROR)$" "$out/rustnn.Rcheck/00check.log" || true
  tail -60 "$out/check.log" "$out/build.log" 2>/dev/null
  step_failed "R CMD check"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Runs the engine's numeric tests on the kernels of CPUs without AVX-512:
# the matrix multiply and the vector loops pick their instructions when the
# engine starts (AVX-512, AVX2 + FMA, or the x86-64 baseline), and this
# machine only ever runs its own pick. Under qemu-x86_64 user emulation
# (Debian's qemu-user) the engine sees an emulated CPU instead:
#   Haswell  AVX2 + FMA, no AVX-512  -> the "avx2" kernels
#   Nehalem  SSE4.2, no AVX          -> the "sse2" (baseline) kernels
# (QEMU 7.2's TCG emulates AVX2 and FMA but not AVX-512; the CPU flags it
# cannot emulate, none of which the kernels use, are turned off to keep it
# quiet.) On each CPU, both suites run as they do natively, with the same
# references and tolerances:
#  - the core's cargo tests (src/rust: the test binary that `cargo test -p
#    rustnn-core` builds, run by qemu as cargo's runner);
#  - the testthat files with the numeric tests (gradients against central
#    differences, layers, losses and optimizers against plain-R and
#    PyTorch's update rules, fit, predict, image layers, the tutorials'
#    references, 1 vs 2 vs 3 threads bit-identical) on the installed package.
#    R's own binary runs under qemu, in the environment R's front end sets
#    (`R CMD <command>` runs a command in it); R processes these tests start
#    (callr) run natively.
# Both suites also assert that the engine names the expected instruction set
# (RUSTNN_EXPECT_INSTRUCTION_SET), so a run on the wrong kernels fails.
#
# Usage: tools/cpu_paths.sh LIB [OUTPUT_DIR]
#   LIB: an R library with rustnn installed; OUTPUT_DIR default .build/cpu.
# Writes OUTPUT_DIR/counts (tests passed, tests failed, over both suites and
# both CPUs) and exits non-zero if any test failed or a suite did not run.
set -uo pipefail
cd "$(dirname "$0")/.."
lib=$(realpath "$1")
out=$(realpath -m "${2:-.build/cpu}")
rm -rf "$out" && mkdir -p "$out"
quiet="-pcid,-x2apic,-tsc-deadline,-invpcid"
cpus=("Haswell-noTSX,$quiet avx2" "Nehalem sse2")
# QEMU emulates AVX2 about eight times slower than SSE: on the AVX2 CPU, a
# subset in proportion to CI's time, whose code reaches every AVX2 kernel
# (matrix products in the gradient checks of every layer; the vector loops
# of the optimizers' steps and of the pooling layers; the thread-identity
# tests); the baseline CPU runs the rest of the numeric files too.
r_files_avx2=(gradients optimizers image-layers threads)
r_files_sse2=(gradients layers losses optimizers fit predict image-layers training threads)
r_files_sse2+=(activations tutorials)
passed=0
failed=0

cat >"$out/run.R" <<'EOF'
# Runs testthat files (names after --args) on the installed rustnn and
# writes "passed\nfailed" to $RUSTNN_COUNTS. A skipped test counts as failed.
files <- commandArgs(trailingOnly = TRUE)
res <- do.call(rbind, lapply(files, function(f) {
  path <- file.path("tests/testthat", paste0("test-", f, ".R"))
  as.data.frame(testthat::test_file(path, package = "rustnn", load_package = "installed",
                                    reporter = "summary", stop_on_failure = FALSE))
}))
ok <- res$failed == 0 & !res$error & res$skipped == 0
if (any(!ok)) print(res[!ok, c("file", "test", "failed", "skipped", "error")])
writeLines(as.character(c(sum(ok), sum(!ok))), Sys.getenv("RUSTNN_COUNTS"))
EOF

for entry in "${cpus[@]}"; do
  read -r cpu isa <<<"$entry"
  name=${cpu%%,*}
  if [ "$isa" = avx2 ]; then r_files=("${r_files_avx2[@]}"); else r_files=("${r_files_sse2[@]}"); fi
  SECONDS=0
  echo "-- $name ($isa kernels): the core's cargo tests"
  log="$out/cargo-$name.log"
  (cd src/rust && RUSTNN_EXPECT_INSTRUCTION_SET=$isa \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="qemu-x86_64 -cpu $cpu" \
    cargo test -p rustnn-core 2>&1) >"$log"
  grep "test result" "$log" || { tail -20 "$log"; echo "(no test result)"; }
  passed=$((passed + $(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')))
  failed=$((failed + $(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')))
  grep -q "test result" "$log" || failed=$((failed + 1))
  grep -E "^test .* FAILED|panicked" "$log" | head -20

  echo "($SECONDS s)"
  SECONDS=0
  echo "-- $name ($isa kernels): testthat ${r_files[*]}"
  counts="$out/testthat-$name.counts"
  # R exits through a segmentation fault under qemu-user once packages with
  # compiled code (cli, rlang) are loaded, after the script has finished:
  # the counts file, written last, tells whether the tests ran.
  NOT_CRAN=true R_LIBS="$lib" RUSTNN_COUNTS="$counts" RUSTNN_EXPECT_INSTRUCTION_SET=$isa \
    R CMD qemu-x86_64 -cpu "$cpu" "$(R RHOME)/bin/exec/R" --vanilla -s -f "$out/run.R" \
    --args "${r_files[@]}" >"$out/testthat-$name.log" 2>&1
  grep -E "^══|Failure|Error" "$out/testthat-$name.log" | head -40
  if [ -f "$counts" ]; then
    echo "testthat on $name: $(sed -n 1p "$counts") passed, $(sed -n 2p "$counts") failed ($SECONDS s)"
    passed=$((passed + $(sed -n 1p "$counts")))
    failed=$((failed + $(sed -n 2p "$counts")))
  else
    tail -30 "$out/testthat-$name.log"
    echo "FAILED: testthat did not finish on $name"
    failed=$((failed + 1))
  fi
done

printf '%s\n%s\n' "$passed" "$failed" >"$out/counts"
echo "CPU paths: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

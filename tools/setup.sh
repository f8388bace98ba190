#!/usr/bin/env bash
# Installs what building and testing rustnn needs on Debian 12 with only the
# Rust toolchain: R and the R packages (from Debian's r-cran-* packages; CRAN
# is not needed), pandoc, qpdf, LaTeX, checkbashisms and tidy for R CMD check
# --as-cran, valgrind, the Fashion-MNIST data package, mingw-w64, BSD tar and
# qemu-user with the Rust targets of Windows, macOS and ARM Linux (for
# tools/cross_check.sh and tools/cpu_paths.sh), and the crates that
# cargo test, clippy and the fuzz tests use (from the crate registry; the
# package itself builds offline from src/rust/vendor.tar.xz). Idempotent: it
# installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  r-base-dev r-cran-r6 r-cran-cli r-cran-generics r-cran-rlang
  r-cran-testthat r-cran-callr r-cran-withr r-cran-knitr r-cran-rmarkdown
  r-cran-roxygen2 r-cran-ggplot2 pandoc qpdf dataset-fashion-mnist
  # the modelling ecosystem: hardhat bridges, recipes, caret (in parallel)
  r-cran-hardhat r-cran-recipes r-cran-tibble r-cran-caret r-cran-doparallel
  r-cran-foreach
  # resampling and tuning on any future backend
  r-cran-future r-cran-future.apply r-cran-furrr r-cran-progressr r-cran-rsample
  r-cran-parallelly r-cran-globals r-cran-future.batchtools
  # R CMD check --as-cran: the PDF manual, configure's shell check, HTML docs
  texlive-latex-base texlive-latex-recommended texlive-fonts-recommended
  devscripts tidy
  # tools/valgrind.sh
  valgrind
  # tools/cross_check.sh: the Windows build with mingw-w64, macOS's BSD tar
  gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 libarchive-tools
  # tools/cpu_paths.sh: the engine on emulated CPUs without AVX-512 or AVX2
  qemu-user
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install the Rust toolchain (rustup)" >&2; exit 1; }
# The standard libraries of the platforms tools/cross_check.sh builds for.
cross_targets=(x86_64-pc-windows-gnu aarch64-apple-darwin x86_64-apple-darwin aarch64-unknown-linux-gnu)
command -v rustup >/dev/null 2>&1 || { echo "rustup not found: install the Rust toolchain with rustup" >&2; exit 1; }
installed_targets=$(rustup target list --installed)
for t in "${cross_targets[@]}"; do
  grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
done
cargo fetch --quiet --manifest-path src/rust/Cargo.toml
cargo fetch --quiet --manifest-path src/rust/fuzz/Cargo.toml

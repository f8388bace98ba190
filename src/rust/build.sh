#!/bin/sh
# Runs cargo offline on the vendored crates, from src/:
#   sh rust/build.sh TARGET_DIR SHARED LIBDIR
#     builds the glue crate's static library for the architecture R runs on
#     (rust/target.sh) and copies it to LIBDIR/librustnn.a, for src/Makevars
#     and src/Makevars.win;
#   sh rust/build.sh TARGET_DIR SHARED -- CARGO_ARGUMENTS...
#     runs `cargo CARGO_ARGUMENTS` the same way (tools/cross_check.sh checks
#     the crates for other platforms with it).
# TARGET_DIR is cargo's target directory; SHARED is "yes" when it is a build
# cache shared by installs from different directories (RUSTNN_TARGET_DIR).
#
# The crates come from rust/vendor.tar.xz (made by tools/vendor.sh), and
# cargo runs with --offline --locked and its own CARGO_HOME, so the build
# neither downloads anything nor reads or writes the user's ~/.cargo. Only
# POSIX sh and tools that macOS, Windows' Rtools and Linux all have are used
# (tar's -x -f -C: BSD tar detects the xz compression itself).
#
# Where the crates are unpacked:
# - a plain install: rust/vendor inside the sources, removed afterwards;
# - a shared cache: beside it, in a directory named by the tarball's
#   checksum and kept, because cargo recompiles every crate whose source
#   directory moved, and R CMD build and R CMD check install from fresh
#   copies of the sources each time.
set -e

target_dir=$1
shared=$2
libdir=$3
shift 3
tarball=$(pwd)/rust/vendor.tar.xz
# R sets TAR to its own choice of tar; "internal" means R's own R code.
case "$TAR" in "" | internal) TAR=tar ;; esac
PATH="$PATH:$HOME/.cargo/bin"
export PATH

if [ "$shared" = yes ]; then
  sum=$(cksum <"$tarball" | cut -d' ' -f1)
  vendor="$target_dir/vendor-$sum"
  cargo_home="$target_dir/cargo-home"
else
  vendor="$(pwd)/rust/vendor"
  cargo_home="$(pwd)/rust/.cargo-home"
  rm -rf "$vendor" "$cargo_home"
  trap 'rm -rf "$vendor" "$cargo_home"' EXIT
fi

if [ ! -d "$vendor" ]; then
  # Unpack beside the final place and rename, so a concurrent build never
  # sees half a directory.
  unpacking="$vendor.unpacking.$$"
  mkdir -p "$unpacking"
  "$TAR" -x -f "$tarball" -C "$unpacking"
  [ -d "$vendor" ] || mv "$unpacking/vendor" "$vendor"
  rm -rf "$unpacking"
fi

# cargo is a native program on Windows: Rtools' shell gives it its paths as
# C:/..., not as the shell's own /c/... (which it converts only in some
# arguments, not inside --config's value).
native() {
  if command -v cygpath >/dev/null 2>&1; then cygpath -m "$1"; else echo "$1"; fi
}

offline_cargo() {
  CARGO_HOME="$(native "$cargo_home")" cargo "$@" --offline --locked \
    --config 'source.crates-io.replace-with="vendored-sources"' \
    --config "source.vendored-sources.directory=\"$(native "$vendor")\"" \
    --manifest-path=./rust/Cargo.toml --target-dir "$(native "$target_dir")"
}

if [ "$libdir" = -- ]; then
  offline_cargo "$@"
  exit
fi

target=$(sh ./rust/target.sh)
if [ -n "$target" ]; then
  echo "building for $target, the architecture R runs on"
  offline_cargo build --lib --release -j 2 -p rustnn-glue --target "$target"
  built="$target_dir/$target/release/librustnn.a"
else
  offline_cargo build --lib --release -j 2 -p rustnn-glue
  built="$target_dir/release/librustnn.a"
fi
mkdir -p "$libdir"
cp "$built" "$libdir/librustnn.a"

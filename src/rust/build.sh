#!/bin/sh
# Builds the glue crate's static library, offline, for src/Makevars:
#   sh rust/build.sh TARGET_DIR SHARED
# TARGET_DIR is cargo's target directory; SHARED is "yes" when it is a build
# cache shared by installs from different directories (RUSTNN_TARGET_DIR).
#
# The crates come from rust/vendor.tar.xz (made by tools/vendor.sh), and
# cargo runs with --offline --locked and its own CARGO_HOME, so the build
# neither downloads anything nor reads or writes the user's ~/.cargo.
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
tarball=$(pwd)/rust/vendor.tar.xz
: "${TAR:=tar}"

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
  "$TAR" --extract --xz --file="$tarball" -C "$unpacking"
  [ -d "$vendor" ] || mv "$unpacking/vendor" "$vendor"
  rm -rf "$unpacking"
fi

PATH="$PATH:$HOME/.cargo/bin" CARGO_HOME="$cargo_home" \
  cargo build --lib --release --offline --locked -j 2 -p rustnn-glue \
  --config 'source.crates-io.replace-with="vendored-sources"' \
  --config "source.vendored-sources.directory=\"$vendor\"" \
  --manifest-path=./rust/Cargo.toml --target-dir "$target_dir"

#!/bin/sh
# Prints the Rust target rustnn's library is built for: the architecture R
# runs on. Used by configure (to check the target is installed) and by
# rust/build.sh (to build for it):
#   sh rust/target.sh       (from src/; R_HOME set, as R CMD INSTALL sets it)
#
# - RUSTNN_CARGO_TARGET, when set, is printed as is: src/Makevars.win and
#   configure.win set it to x86_64-pc-windows-gnu, the target of Rtools.
# - Otherwise nothing is printed when R's architecture is rustc's host
#   architecture (the usual case: cargo builds for its host). When they
#   differ, it prints the host's triple with R's architecture in front: an
#   Intel (x86_64) build of R run through Rosetta on an Apple silicon Mac
#   whose rustc is arm64 needs x86_64-apple-darwin, and an arm64 R with an
#   Intel rustc needs aarch64-apple-darwin.
set -e

if [ -n "$RUSTNN_CARGO_TARGET" ]; then
  echo "$RUSTNN_CARGO_TARGET"
  exit 0
fi

host=$(rustc -vV | sed -n 's/^host: //p')
r_arch=""
if [ -n "$R_HOME" ] && [ -x "$R_HOME/bin/Rscript" ]; then
  r_arch=$("$R_HOME/bin/Rscript" --vanilla -e 'cat(R.version$arch)' 2>/dev/null || true)
fi
# macOS names the 64-bit ARM architecture arm64 (uname), Rust aarch64.
if [ "$r_arch" = arm64 ]; then r_arch=aarch64; fi
host_arch=${host%%-*}

if [ -n "$r_arch" ] && [ -n "$host" ] && [ "$r_arch" != "$host_arch" ]; then
  echo "$r_arch-${host#*-}"
fi

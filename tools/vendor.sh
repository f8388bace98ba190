#!/usr/bin/env bash
# Re-makes the vendored crates that let rustnn build without internet:
#   src/rust/vendor.tar.xz   every crate of src/rust/Cargo.lock (cargo vendor)
#   src/rust/vendor.sha256   the Cargo.lock it was made from
#   inst/AUTHORS             the crates' authors and licenses
# Run it whenever Cargo.lock changes; tools/test.sh fails while the tarball is
# stale. The tarball is reproducible: entries sorted by name, owned by 0:0,
# dated 1970-01-01, compressed by single-threaded xz, so re-running it on an
# unchanged Cargo.lock gives the same bytes (and no spurious git diff).
set -euo pipefail
cd "$(dirname "$0")/../src/rust"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo vendor --locked --quiet "$work/vendor" >/dev/null

# windows-sys is in Cargo.lock only through gemm-common -> sysctl -> walkdir
# -> winapi-util, a chain no platform compiles whole: sysctl is for Apple
# targets, its walkdir for Linux and Android, winapi-util for Windows. Its
# 19 MB of Windows bindings (1.9 MB of xz, over a third of the tarball) are
# replaced by an empty library. Cargo still reads its manifest to resolve
# the lock; the checksum file keeps the package checksum (checked against
# Cargo.lock) and drops the per-file list, so cargo accepts the emptied
# sources.
never_compiled=(windows-sys)
for crate in "${never_compiled[@]}"; do
  dir="$work/vendor/$crate"
  package_sum=$(sed -n 's/.*"package":"\([0-9a-f]*\)".*/\1/p' "$dir/.cargo-checksum.json")
  rm -rf "$dir/src"
  mkdir "$dir/src"
  echo "// Emptied by tools/vendor.sh: no platform compiles this crate for rustnn." >"$dir/src/lib.rs"
  printf '{"files":{},"package":"%s"}' "$package_sum" >"$dir/.cargo-checksum.json"
done
tar --sort=name --mtime='@0' --owner=0 --group=0 --numeric-owner \
  --format=gnu -C "$work" -cf - vendor | xz -9e -T1 >"$work/vendor.tar.xz"
mv "$work/vendor.tar.xz" vendor.tar.xz
sha256sum Cargo.lock | cut -d' ' -f1 >vendor.sha256

Rscript ../../tools/authors.R "$work/vendor" ../../inst/AUTHORS

echo "vendor.tar.xz: $(du -k vendor.tar.xz | cut -f1) KB, $(ls "$work/vendor" | wc -l) crates"

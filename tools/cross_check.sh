#!/usr/bin/env bash
# Builds what can be built here of rustnn for other platforms:
#  1. `cargo check --locked --offline` of the core and glue crates against the
#     vendored crates for Windows (x86_64-pc-windows-gnu), macOS
#     (aarch64-apple-darwin, x86_64-apple-darwin) and Linux on ARM
#     (aarch64-unknown-linux-gnu), through src/rust/build.sh as the
#     package's build runs cargo;
#  2. the Windows static library, built as src/Makevars.win builds it (its
#     build.sh call, RUSTNN_CARGO_TARGET set), with Debian's mingw-w64 cross
#     compiler as the target's C compiler and linker;
#  3. src/entrypoint.c compiled against R's headers by that compiler, and
#     linked with the static library and Makevars.win's system libraries into
#     rustnn.dll: R's own functions come from an import library for R.dll
#     listing the symbols libR exports, so any other unresolved symbol (a
#     system library missing from PKG_LIBS) fails the link;
#  4. the vendored crates unpacked with BSD tar (macOS's tar) using
#     build.sh's flags.
# Usage: tools/cross_check.sh [OUTPUT_DIR]  (default .build/cross; cargo's
# target directory is RUSTNN_TARGET_DIR, default .build/target). Exits
# non-zero if any step fails.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-.build/cross}")
target_dir=$(realpath -m "${RUSTNN_TARGET_DIR:-.build/target}")
rm -rf "$out" && mkdir -p "$out"
status=0
fail() { echo "FAILED: $1"; status=1; }

targets=(x86_64-pc-windows-gnu aarch64-apple-darwin x86_64-apple-darwin aarch64-unknown-linux-gnu)
echo "-- cargo check --locked --offline for ${targets[*]}"
target_args=()
for t in "${targets[@]}"; do target_args+=(--target "$t"); done
(cd src && sh rust/build.sh "$target_dir" yes -- check -p rustnn-core -p rustnn-glue "${target_args[@]}") ||
  fail "cargo check for ${targets[*]}"

echo "-- the Windows static library (as src/Makevars.win builds it), with mingw-w64"
win=x86_64-pc-windows-gnu
mingw=x86_64-w64-mingw32
if (cd src && CC_x86_64_pc_windows_gnu=$mingw-gcc AR_x86_64_pc_windows_gnu=$mingw-ar \
  CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=$mingw-gcc RUSTNN_CARGO_TARGET=$win \
  sh rust/build.sh "$target_dir" yes "$out/lib"); then
  r_include=$(R RHOME)/include
  [ -f "$r_include/R.h" ] || r_include=$(Rscript -e 'cat(R.home("include"))')
  if $mingw-gcc -std=gnu99 -O2 -Wall -Werror -DNDEBUG -I"$r_include" -c src/entrypoint.c -o "$out/entrypoint.o"; then
    # An import library for R.dll with every symbol libR exports that the
    # objects need.
    libr=$(R RHOME)/lib/libR.so
    nm -D --defined-only "$libr" | awk '{print $NF}' | sort -u >"$out/libR.symbols"
    { $mingw-nm -u "$out/entrypoint.o"; $mingw-nm -u "$out/lib/librustnn.a" 2>/dev/null; } |
      awk 'NF == 2 {print $2}' | sort -u | comm -12 - "$out/libR.symbols" >"$out/R.used"
    { echo "LIBRARY R.dll"; echo "EXPORTS"; cat "$out/R.used"; } >"$out/R.def"
    $mingw-dlltool -d "$out/R.def" -l "$out/libR.dll.a"
    pkg_libs=$(sed -n 's/^PKG_LIBS = -L$(LIBDIR) -lrustnn //p' src/Makevars.win)
    # shellcheck disable=SC2086
    # -static-libgcc: Rtools' GCC links libgcc statically; Debian's would
    # make rustnn.dll need its libgcc_s_seh-1.dll.
    if $mingw-gcc -shared -s -static-libgcc -o "$out/rustnn.dll" "$out/entrypoint.o" \
      -L"$out/lib" -lrustnn $pkg_libs -L"$out" -lR >"$out/link.log" 2>&1 &&
      $mingw-objdump -p "$out/rustnn.dll" >"$out/rustnn.dll.txt" &&
      grep -q "R_init_rustnn" "$out/rustnn.dll.txt"; then
      echo "rustnn.dll links: $(wc -l <"$out/R.used") symbols of R.dll, $pkg_libs; it loads" \
        "$(sed -n 's/^[[:space:]]*DLL Name: //p' "$out/rustnn.dll.txt" | sort | tr '\n' ' ')"
    else
      tail -30 "$out/link.log"
      fail "linking rustnn.dll with Makevars.win's libraries"
    fi
  else
    fail "compiling src/entrypoint.c with $mingw-gcc"
  fi
else
  fail "building the Windows static library"
fi

echo "-- the vendored crates unpack with BSD tar"
mkdir -p "$out/bsdtar"
if bsdtar -x -f src/rust/vendor.tar.xz -C "$out/bsdtar" &&
  [ "$(tar -tf src/rust/vendor.tar.xz | grep -vc '/$')" = "$(find "$out/bsdtar" -type f | wc -l)" ]; then
  echo "unpacked $(find "$out/bsdtar" -type f | wc -l) files"
else
  fail "unpacking src/rust/vendor.tar.xz with bsdtar"
fi
rm -rf "$out/bsdtar"

exit $status

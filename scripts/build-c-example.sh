#!/usr/bin/env bash
# Builds a C example (examples/c/NAME.c) for wasm32-wasi with Debian's clang and
# wasi-libc: scripts/build-c-example.sh examples/c/fncgi.c build/examples/fncgi.wasm.
# Without them it says what to install and skips, or fails with CI=true.
set -euo pipefail
src=$1 out=$2
cc=${WASI_CC:-}
for c in clang-14 clang; do
	[ -n "$cc" ] && break
	cc=$(command -v "$c" || true)
done
sysroot=${WASI_SYSROOT:-/usr}
if [ -z "$cc" ] || [ ! -f "$sysroot/lib/wasm32-wasi/libc.a" ]; then
	msg="building $src needs clang and wasi-libc: apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32"
	if [ "${CI:-}" = true ]; then echo "$msg" >&2; exit 1; fi
	echo "skipping: $msg" >&2
	exit 0
fi
mkdir -p "$(dirname "$out")"
"$cc" --target=wasm32-wasi --sysroot="$sysroot" -O2 -Wall -Werror -s -o "$out" "$src"

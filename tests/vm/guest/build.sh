#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Build the guest test programs as static binaries.
#   build.sh OUTDIR [debug]
# "debug" builds hbctl with the raw-request command (needs hballoon.ko
# built with HBALLOON_DEBUG=1).
set -eu

usage() {
	echo "usage: $0 OUTDIR [debug]" >&2
	exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	usage
fi
out=$1
debug=
if [ $# -eq 2 ]; then
	[ "$2" = debug ] || usage
	debug=-DHBALLOON_DEBUG
fi

here=$(cd "$(dirname "$0")" && pwd)
uapi="$here/../../../guest-driver/include/uapi"
CC=${CC:-gcc}
CFLAGS="-O2 -static -Wall -Wextra -Werror -std=gnu11 -I$uapi"

mkdir -p "$out"
# shellcheck disable=SC2086 # CFLAGS is a word list
$CC $CFLAGS $debug -o "$out/hbctl" "$here/hbctl.c"
# shellcheck disable=SC2086
$CC $CFLAGS -o "$out/memhog" "$here/memhog.c"
# shellcheck disable=SC2086
$CC $CFLAGS -o "$out/pattern" "$here/pattern.c"

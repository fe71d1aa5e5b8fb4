#!/usr/bin/env bash
# Builds hballoon.ko out of tree against a guest-kernel header tree
# unpacked in the cache (scripts/fetch-guest-headers.sh).  usage: build-kmod.sh 6.1|6.12 OUTDIR [debug]
# "debug" builds the test-only variant with HBALLOON_DEBUG (raw request
# ioctl).  Prints the path of the module.
. "$(dirname "$0")/lib.sh"

series=${1:?usage: build-kmod.sh 6.1|6.12 OUTDIR [debug]}
outdir=${2:?usage: build-kmod.sh 6.1|6.12 OUTDIR [debug]}
variant=${3:-normal}
kver=$(kver_for_series "$series")
kdir=$TIERVM_CACHE/headers/$kver/root/usr/src/linux-headers-$kver
work=$outdir/kmod-$kver-$variant
rm -rf "$work"
mkdir -p "$work/kmod" "$work/include"
cp "$TIERVM_TOP"/guest-driver/kmod/* "$work/kmod/"
cp -r "$TIERVM_TOP"/guest-driver/include/* "$work/include/"
extra=()
[ "$variant" = debug ] && extra=(HBALLOON_DEBUG=1)
make -C "$work/kmod" KDIR="$kdir" "${extra[@]}" >&2 || die "hballoon.ko build failed for $kver"
echo "$work/kmod/hballoon.ko"

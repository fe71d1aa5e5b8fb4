#!/usr/bin/env bash
# Fetches Debian's unsigned cloud kernel matching the installed headers of a
# guest-kernel series (6.1 or 6.12) and unpacks it (no host installation).
# Prints KVER=..., KERNEL=<vmlinuz>, KMODDIR=<lib/modules/KVER>.
. "$(dirname "$0")/lib.sh"

series=${1:?usage: fetch-guest-kernel.sh 6.1|6.12}
kver=$(kver_for_series "$series")
out=$TIERVM_CACHE/kernels/$kver
if [ ! -f "$out/done" ]; then
    rm -rf "$out"
    mkdir -p "$out/deb"
    log "downloading linux-image-$kver-unsigned"
    (cd "$out/deb" && apt-get download "linux-image-$kver-unsigned" >&2 2>/dev/null) ||
        (cd "$out/deb" && apt-get download "linux-image-$kver-unsigned" >&2) ||
        die "cannot download linux-image-$kver-unsigned"
    dpkg-deb -x "$out"/deb/*.deb "$out/root"
    rm -rf "$out/deb"
    # The package leaves modules.dep to its postinst; generate it here.
    depmod -b "$out/root" "$kver"
    touch "$out/done"
fi
echo "KVER=$kver"
echo "KERNEL=$out/root/boot/vmlinuz-$kver"
echo "KMODDIR=$out/root/lib/modules/$kver"

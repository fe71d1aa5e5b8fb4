#!/usr/bin/env bash
# Unpacks the newest Debian cloud kernel headers of a guest-kernel series
# (6.1 or 6.12) into the cache, for building hballoon.ko: the headers
# package, its -common part and the matching linux-kbuild, with
# `apt-get download` + `dpkg-deb -x`.  Nothing is installed on the host:
# the 6.12 headers package depends on the 6.12 image, which apt would put
# in /boot and GRUB would boot next (DESIGN.md section 8).
# Prints the tree's path (KDIR for the module build).
# usage: fetch-guest-headers.sh 6.1|6.12   (needs `apt-get update` done)
. "$(dirname "$0")/lib.sh"

series=${1:?usage: fetch-guest-headers.sh 6.1|6.12}
kver=$(kver_in_archive "$series")
out=$TIERVM_CACHE/headers/$kver
if [ ! -f "$out/done" ]; then
    rm -rf "$out"
    mkdir -p "$out/deb"
    # The package's own Depends name the -common and kbuild packages.
    deps=$(apt-cache depends "linux-headers-$kver" |
           sed -n 's/^ *|\{0,1\}Depends: \(linux-headers-[^ ]*-common\|linux-kbuild-[^ ]*\)$/\1/p' |
           sort -u)
    [ "$(echo "$deps" | wc -l)" = 2 ] ||
        die "linux-headers-$kver: expected a -common and a kbuild dependency, got: $deps"
    log "downloading linux-headers-$kver $(echo $deps)"
    # shellcheck disable=SC2086
    (cd "$out/deb" && apt-get download "linux-headers-$kver" $deps >&2) ||
        die "cannot download linux-headers-$kver"
    for d in "$out"/deb/*.deb; do dpkg-deb -x "$d" "$out/root"; done
    rm -rf "$out/deb"
    # The flavour's Makefile includes the -common tree by absolute path.
    mk=$out/root/usr/src/linux-headers-$kver/Makefile
    sed -i "s|^include /usr/src/|include $out/root/usr/src/|" "$mk"
    grep -q "^include $out/root/usr/src/" "$mk" || die "$mk: unexpected content"
    touch "$out/done"
fi
echo "$out/root/usr/src/linux-headers-$kver"

#!/usr/bin/env bash
# Builds qemu-system-x86_64 from Debian 12's QEMU source package with
# qemu-patches/series applied.  The result is cached in
# $TIERVM_CACHE/qemu-<hash of source version, patches, flags, this script>;
# a fresh machine rebuilds (about 3 minutes on 2 cores).
#
# Prints two lines on stdout:
#   QEMU=<path to qemu-system-x86_64>
#   QEMU_SRC=<path to the patched source tree>
. "$(dirname "$0")/lib.sh"

patchdir=$TIERVM_TOP/qemu-patches
# --enable-numa (libnuma): memory backends with host-nodes=/policy=, which
# libvirt's <numatune><memnode> and the real-hardware mode need.
configure_flags=(--target-list=x86_64-softmmu --without-default-features
    --enable-tcg --enable-kvm --enable-fdt=system --enable-numa --disable-docs
    --disable-install-blobs --disable-werror)

patches=()
if [ -f "$patchdir/series" ]; then
    while read -r p; do
        [ -z "$p" ] || [ "${p#\#}" != "$p" ] && continue
        [ -f "$patchdir/$p" ] || die "qemu-patches/series names missing file $p"
        patches+=("$patchdir/$p")
    done < "$patchdir/series"
fi

key=$( { echo "$QEMU_DEB_VERSION"; echo "${configure_flags[*]}";
         cat "$0"; [ ${#patches[@]} -eq 0 ] || cat "${patches[@]}"; } |
       sha256sum | cut -c1-16)
out=$TIERVM_CACHE/qemu-$key
bin=$out/build/qemu-system-x86_64

if [ ! -x "$bin" ] || [ ! -f "$out/done" ]; then
    pkgdir=$TIERVM_CACHE/qemu-srcpkg
    mkdir -p "$pkgdir"
    dsc=$pkgdir/qemu_${QEMU_DEB_VERSION#*:}.dsc
    if [ ! -f "$dsc" ]; then
        log "downloading source package qemu=$QEMU_DEB_VERSION"
        (cd "$pkgdir" && apt-get source --download-only "qemu=$QEMU_DEB_VERSION" >&2) ||
            die "the Debian mirror no longer carries qemu=$QEMU_DEB_VERSION, which qemu-patches/ is made against; rebase the series onto the version 'apt-cache showsrc qemu' offers and update QEMU_DEB_VERSION in scripts/lib.sh"
    fi
    rm -rf "$out"
    mkdir -p "$out"
    log "unpacking into $out/src (dpkg-source applies Debian's patches)"
    dpkg-source -x "$dsc" "$out/src" >&2
    for p in "${patches[@]}"; do
        log "applying $(basename "$p")"
        patch -d "$out/src" -p1 --quiet --forward < "$p" >&2 ||
            die "$(basename "$p") does not apply to qemu=$QEMU_DEB_VERSION"
    done
    mkdir -p "$out/build"
    log "configuring and building x86_64-softmmu"
    (cd "$out/build" && "$out/src/configure" "${configure_flags[@]}" >&2 &&
        ninja qemu-system-x86_64 >&2) || die "QEMU build failed (see above)"
    touch "$out/done"
    # Keep the cache from growing without bound: drop other QEMU builds.
    find "$TIERVM_CACHE" -maxdepth 1 -name 'qemu-*' ! -name "qemu-$key" \
        ! -name qemu-srcpkg -exec rm -rf {} + 2>/dev/null || true
fi
echo "QEMU=$bin"
echo "QEMU_SRC=$out/src"

#!/usr/bin/env bash
# Builds a guest initramfs for the VM rig.
#
# usage: build-initramfs.sh --series 6.1|6.12 --kmoddir DIR --out FILE
#            [--hballoon KO] [--hballoon-debug KO] [--bin PROG]... [--file SRC:DST]...
#
# Contents: busybox-static, the kernel modules the rig needs from the guest
# kernel package (virtio transport on kernels where it is modular, and the
# stock virtio_balloon for comparisons) with their dependencies, hballoon.ko
# (and its debug build), the test programs, and any dynamically linked
# program given with --bin together with the shared libraries it needs.
# The init script (tests/vm/guest/init) starts a command agent on ttyS1.
. "$(dirname "$0")/lib.sh"

series= kmoddir= out= hb= hbdbg=
bins=() files=()
while [ $# -gt 0 ]; do
    case "$1" in
        --series) series=$2; shift 2 ;;
        --kmoddir) kmoddir=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --hballoon) hb=$2; shift 2 ;;
        --hballoon-debug) hbdbg=$2; shift 2 ;;
        --bin) bins+=("$2"); shift 2 ;;
        --file) files+=("$2"); shift 2 ;;
        *) die "unknown argument $1" ;;
    esac
done
[ -n "$series" ] && [ -n "$kmoddir" ] && [ -n "$out" ] || die "need --series, --kmoddir and --out"
[ -f "$kmoddir/modules.dep" ] || die "no modules.dep in $kmoddir"
[ -x /bin/busybox ] || die "busybox-static missing: run scripts/install-deps.sh"
file /bin/busybox 2>/dev/null | grep -q 'dynamically' && die "/bin/busybox is not static"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/hb,lib/modules,usr/bin,usr/lib}
cp /bin/busybox "$root/bin/busybox"

# Kernel modules: the wanted ones plus their dependencies from modules.dep,
# decompressed (busybox insmod loads plain .ko files), in load order.
kver=$(basename "$kmoddir")
wanted=(virtio_pci virtio_balloon)
declare -A seen=()
order=()
resolve() {
    local name=$1 line path deps d
    line=$(grep -E "(^|/)${name}\.ko(\.xz|\.zst|\.gz)?:" "$kmoddir/modules.dep" || true)
    if [ -z "$line" ]; then
        grep -qE "/${name}\.ko" "$kmoddir/modules.builtin" ||
            die "module $name is neither in modules.dep nor built in"
        return 0
    fi
    path=${line%%:*}
    [ -n "${seen[$path]:-}" ] && return 0
    seen[$path]=1
    deps=${line#*:}
    for d in $deps; do
        d=$(basename "$d"); d=${d%%.ko*}
        resolve "$d"
    done
    order+=("$path")
}
for m in "${wanted[@]}"; do resolve "$m"; done
: > "$root/lib/modules/load.order"
for p in "${order[@]}"; do
    base=$(basename "$p"); base=${base%%.ko*}.ko
    case "$p" in
        *.xz) xz -dc "$kmoddir/$p" > "$root/lib/modules/$base" ;;
        *.zst) zstd -dc "$kmoddir/$p" > "$root/lib/modules/$base" ;;
        *.gz) gzip -dc "$kmoddir/$p" > "$root/lib/modules/$base" ;;
        *) cp "$kmoddir/$p" "$root/lib/modules/$base" ;;
    esac
    # virtio_balloon is loaded on demand by the tests, not at boot.
    [ "$base" = virtio_balloon.ko ] || echo "$base" >> "$root/lib/modules/load.order"
done

[ -z "$hb" ] || cp "$hb" "$root/lib/hb/hballoon.ko"
[ -z "$hbdbg" ] || cp "$hbdbg" "$root/lib/hb/hballoon-debug.ko"

# Programs; dynamically linked ones bring their libraries and loader.
for b in "${bins[@]}"; do
    [ -x "$b" ] || die "--bin $b is not an executable"
    cp "$b" "$root/bin/"
    if ldd "$b" >/dev/null 2>&1; then
        ldd "$b" | grep -oE '/[^ ]+' | while read -r lib; do
            [ -f "$lib" ] || continue
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        done
    fi
done
for f in "${files[@]}"; do
    src=${f%%:*} dst=${f#*:}
    mkdir -p "$root$(dirname "$dst")"
    cp "$src" "$root$dst"
done
# lib64 loader path used by Debian binaries
[ ! -d "$root/lib/x86_64-linux-gnu" ] || [ -e "$root/lib64" ] || ln -s lib "$root/lib64"

install -m 0755 "$TIERVM_TOP/tests/vm/guest/init" "$root/init"
echo "$series $kver" > "$root/etc/tiervm-guest"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
log "wrote $out ($(du -h "$out" | cut -f1)), modules: $(tr '\n' ' ' < "$root/lib/modules/load.order")"

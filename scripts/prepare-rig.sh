#!/usr/bin/env bash
# Builds everything the VM tests need and writes BUILD_DIR/rig.env:
# patched QEMU, guest kernels (6.1 and 6.12), hballoon.ko for each (normal
# and debug), the guest test programs, one initramfs per kernel, and
# whether KVM is usable here (probed by a real boot, never assumed).
#
# usage: prepare-rig.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"

build=${1:?usage: prepare-rig.sh BUILD_DIR}
mkdir -p "$build"
build=$(cd "$build" && pwd)
rigdir=$build/rig
mkdir -p "$rigdir"
env_tmp=$build/rig.env.tmp
: > "$env_tmp"

"$TIERVM_TOP/scripts/build-qemu.sh" >> "$env_tmp"

log "building guest test programs"
"$TIERVM_TOP/tests/vm/guest/build.sh" "$rigdir/guest" debug >&2
guest_bins=()
for b in "$rigdir"/guest/*; do
    [ -x "$b" ] && [ -f "$b" ] && guest_bins+=(--bin "$b")
done

for series in 6.1 6.12; do
    key=${series//./_}
    eval "$("$TIERVM_TOP/scripts/fetch-guest-kernel.sh" "$series")"
    ko=$("$TIERVM_TOP/scripts/build-kmod.sh" "$series" "$rigdir" normal)
    kodbg=$("$TIERVM_TOP/scripts/build-kmod.sh" "$series" "$rigdir" debug)
    initrd=$rigdir/initrd-$KVER.cpio.gz
    "$TIERVM_TOP/scripts/build-initramfs.sh" --series "$series" \
        --kmoddir "$KMODDIR" --out "$initrd" --hballoon "$ko" \
        --hballoon-debug "$kodbg" "${guest_bins[@]}"
    {
        echo "KVER_$key=$KVER"
        echo "KERNEL_$key=$KERNEL"
        echo "INITRD_$key=$initrd"
        echo "HBALLOON_KO_$key=$ko"
    } >> "$env_tmp"
done

if [ -n "${TIERVM_KVM_USABLE:-}" ]; then
    kvm=$TIERVM_KVM_USABLE
else
    log "probing whether KVM guests boot here"
    kvm=$(python3 "$TIERVM_TOP/tests/vm/rig.py" probe-kvm "$env_tmp")
fi
echo "KVM_USABLE=$kvm" >> "$env_tmp"
mv "$env_tmp" "$build/rig.env"
log "KVM usable: $kvm; wrote $build/rig.env"
cat "$build/rig.env"

#!/usr/bin/env bash
# Runs every TierVM test on a fresh Debian 12 machine (as root):
# installs dependencies, builds the rig (patched QEMU, guest kernels,
# hballoon.ko, initramfs), builds the C++ tree, runs ctest (labels unit, vm,
# bench, fuzz, pkg), then rebuilds the C++ tree with ASan+UBSan and runs its
# unit and fuzz tests again.  Results land in build/results/.
#
# usage: test-all.sh [BUILD_DIR]      (default: build/ in the repo)
. "$(dirname "$0")/lib.sh"

build=${1:-$TIERVM_TOP/build}
"$TIERVM_TOP/scripts/install-deps.sh"
"$TIERVM_TOP/scripts/prepare-rig.sh" "$build"
qemu_src=$(sed -n 's/^QEMU_SRC=//p' "$build/rig.env")

log "configuring and building ($build)"
cmake -S "$TIERVM_TOP" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTIERVM_QEMU_SRC="$qemu_src" -DTIERVM_RIG_ENV="$build/rig.env" >&2
cmake --build "$build" >&2

status=0
log "ctest: unit, vm, bench, fuzz, pkg"
(cd "$build" && ctest --output-on-failure --timeout 1800) || status=1

asan=$build-asan
log "configuring and building with ASan+UBSan ($asan)"
cmake -S "$TIERVM_TOP" -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DTIERVM_SANITIZE=ON -DTIERVM_VM_TESTS=OFF \
    -DTIERVM_QEMU_SRC="$qemu_src" >&2
cmake --build "$asan" >&2
log "ctest under ASan+UBSan: unit, fuzz"
(cd "$asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -L 'unit|fuzz') || status=1

if [ $status -ne 0 ]; then
    log "FAILED (see ctest output above; results in $build/results)"
else
    log "all tests passed; results in $build/results"
fi
exit $status

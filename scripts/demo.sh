#!/usr/bin/env bash
# TierVM main job on a fresh Debian 12 machine (as root): installs what it
# needs, builds the rig, boots a 2-node tiered VM (1 GiB FMEM + 1 GiB SMEM)
# with virtio-hballoon and hballoon.ko, and shows per-node target/actual,
# guest free memory and host backend memory while the host resizes FMEM and
# SMEM; then boots two such VMs running hplaced, starts tiervm-agent on them
# and shows `tiervm status` while FMEM moves to the VM with a hot workload;
# then runs hplaced in one guest and shows a moving hot set kept on FMEM.
# usage: demo.sh [BUILD_DIR]
. "$(dirname "$0")/lib.sh"

build=${1:-$TIERVM_TOP/build}
"$TIERVM_TOP/scripts/install-deps.sh"
"$TIERVM_TOP/scripts/prepare-rig.sh" "$build" > /dev/null
# Act 2's programs: the agent, its CLI, the guest daemon and the workload.
cmake -S "$TIERVM_TOP" -B "$build" -G Ninja -DTIERVM_RIG_ENV="$build/rig.env" \
    -DTIERVM_QEMU_SRC="$(grep ^QEMU_SRC= "$build/rig.env" | cut -d= -f2)" > /dev/null
cmake --build "$build" -j"$(nproc)" --target tiervm-agent tiervm hplaced \
    hplace_hotset > /dev/null
TIERVM_RIG_ENV=$build/rig.env TIERVM_RESULTS_DIR=$build/results \
    TIERVM_BUILD=$build exec python3 "$TIERVM_TOP/scripts/demo.py"

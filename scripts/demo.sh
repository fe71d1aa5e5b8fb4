#!/usr/bin/env bash
# TierVM main job on a fresh Debian 12 machine (as root): installs what it
# needs, builds the rig, boots a 2-node tiered VM (1 GiB FMEM + 1 GiB SMEM)
# with virtio-hballoon and hballoon.ko, and shows per-node target/actual,
# guest free memory and host backend memory while the host resizes FMEM and
# SMEM.  usage: demo.sh [BUILD_DIR]
. "$(dirname "$0")/lib.sh"

build=${1:-$TIERVM_TOP/build}
"$TIERVM_TOP/scripts/install-deps.sh"
"$TIERVM_TOP/scripts/prepare-rig.sh" "$build" > /dev/null
TIERVM_RIG_ENV=$build/rig.env TIERVM_RESULTS_DIR=$build/results \
    exec python3 "$TIERVM_TOP/scripts/demo.py"

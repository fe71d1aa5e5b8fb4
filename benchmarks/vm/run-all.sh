#!/bin/sh
# Full VM harness run: every scenario in benchmarks/vm/scenarios, every
# policy, full durations.  usage: benchmarks/vm/run-all.sh BUILD_DIR
# (BUILD_DIR configured with the rig: scripts/prepare-rig.sh BUILD_DIR, and
# targets vm_gups vm_kvzipf [hplaced] built).  Results: BUILD_DIR/results.
set -e
build=${1:?usage: run-all.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
: "${TIERVM_RIG_ENV:=$build/rig.env}"
export TIERVM_RIG_ENV
exec python3 "$here/harness.py" --build-dir "$build" --out "$build/results" \
    "$here"/scenarios/*.toml

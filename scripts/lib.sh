# shellcheck shell=bash
# Common helpers for TierVM build scripts.  Source it; do not run it.
set -euo pipefail

TIERVM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Builds that take minutes are cached here, keyed by the hash of their inputs.
TIERVM_CACHE=${TIERVM_CACHE:-/var/cache/tiervm}
# The QEMU source package the series is made against (DESIGN.md section 2).
QEMU_DEB_VERSION=1:7.2+dfsg-7+deb12u18
QEMU_SRC_DIR_NAME=qemu-7.2

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Newest installed guest-kernel header trees, one per supported series.
# Prints the kernel release (e.g. 6.1.0-56-cloud-amd64).
kver_for_series() {
    local series=$1 pattern
    case "$series" in
        6.1) pattern='linux-headers-6.1.0-*-cloud-amd64' ;;
        6.12) pattern='linux-headers-6.12.*+deb12-cloud-amd64' ;;
        *) die "unknown guest kernel series '$series' (6.1 or 6.12)" ;;
    esac
    # shellcheck disable=SC2086
    local found
    found=$(cd /usr/src && ls -d $pattern 2>/dev/null | sed 's/^linux-headers-//' | sort -V | tail -n 1)
    [ -n "$found" ] || die "no $pattern in /usr/src: run scripts/install-deps.sh"
    echo "$found"
}

hash_files() { cat "$@" | sha256sum | cut -c1-16; }

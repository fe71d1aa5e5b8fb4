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

# The package-name pattern of a guest-kernel series' cloud headers.
headers_pattern() {
    case "$1" in
        6.1) echo '^linux-headers-6\.1\.0-[0-9]+-cloud-amd64$' ;;
        6.12) echo '^linux-headers-6\.12\.[0-9]+\+deb12-cloud-amd64$' ;;
        *) die "unknown guest kernel series '$1' (6.1 or 6.12)" ;;
    esac
}

# Newest kernel release of a series in the archive (needs apt-get update).
kver_in_archive() {
    local found
    found=$(apt-cache search --names-only "$(headers_pattern "$1")" | awk '{print $1}' |
            sed 's/^linux-headers-//' | sort -V | tail -n 1)
    [ -n "$found" ] || die "no $(headers_pattern "$1") in the archive (is bookworm-backports reachable?)"
    echo "$found"
}

# Newest guest-kernel header tree of a series unpacked in the cache by
# scripts/fetch-guest-headers.sh.  Prints the kernel release (e.g.
# 6.1.0-56-cloud-amd64).
kver_for_series() {
    local found
    found=$(ls "$TIERVM_CACHE/headers" 2>/dev/null | grep -E "$(headers_pattern "$1" |
            sed 's/^\^linux-headers-/^/')" | while read -r k; do
                [ -f "$TIERVM_CACHE/headers/$k/done" ] && echo "$k"
            done | sort -V | tail -n 1)
    [ -n "$found" ] || die "no $1 guest kernel headers in $TIERVM_CACHE/headers: run scripts/install-deps.sh"
    echo "$found"
}

hash_files() { cat "$@" | sha256sum | cut -c1-16; }

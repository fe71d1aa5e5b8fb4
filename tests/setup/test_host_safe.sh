#!/usr/bin/env bash
# The set-up never touches the host's boot (issue 14): nothing it installs
# depends on a kernel image, and guest kernels and their headers land in the
# cache only.
#  1. The dependency closure (Depends and Pre-Depends, recursively; no
#     Recommends: install-deps.sh installs with --no-install-recommends) of
#     every package `install-deps.sh --list` names holds no linux-image-*
#     and no linux-headers-* package.  The same query on the 6.12 cloud
#     headers package must find its image: the check can fail.
#  2. fetch-guest-headers.sh and fetch-guest-kernel.sh for the 6.1 series,
#     into a scratch TIERVM_CACHE, leave /boot, /lib/modules and dpkg's list
#     of installed packages as they were, and put the header tree and the
#     kernel under the scratch cache.
# Needs the apt lists (install-deps.sh ran `apt-get update`) and the
# archive (apt-get download).  ctest label: unit.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/lib.sh"
fail=0
check() {  # check DESCRIPTION CONDITION-STATUS [DETAIL]
    if [ "$2" = 0 ]; then echo "PASS: $1"; else echo "FAIL: $1${3:+: $3}"; fail=1; fi
}
closure() {
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "$@" | grep -v '^ ' | sort -u
}

mapfile -t pkgs < <("$top/scripts/install-deps.sh" --list)
[ "${#pkgs[@]}" -gt 10 ] || die "install-deps.sh --list printed ${#pkgs[@]} packages"
bad=$(closure "${pkgs[@]}" | grep -E '^linux-(image|headers)-' || true)
check "install-deps.sh's ${#pkgs[@]} packages pull in no kernel image or headers" \
    "$([ -z "$bad" ]; echo $?)" "$(echo $bad)"
k612=$(kver_in_archive 6.12)
control=$(closure "linux-headers-$k612" | grep -E '^linux-image-' || true)
check "control: linux-headers-$k612 pulls in its image (the query sees it)" \
    "$([ -n "$control" ]; echo $?)"

scratch=$(mktemp -d /tmp/tiervm-host-safe.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
state() {
    find /boot /lib/modules -maxdepth 2 -printf '%p %s %T@\n' 2>/dev/null | sort
    dpkg-query -W -f='${Package} ${Version} ${Status}\n' | sort
}
before=$(state)
kdir=$(TIERVM_CACHE=$scratch "$top/scripts/fetch-guest-headers.sh" 6.1)
kernel=$(TIERVM_CACHE=$scratch "$top/scripts/fetch-guest-kernel.sh" 6.1 | sed -n 's/^KERNEL=//p')
after=$(state)
check "headers unpacked under the scratch cache ($kdir)" \
    "$([[ "$kdir" == "$scratch"/* && -f "$kdir/Makefile" ]]; echo $?)"
check "kernel unpacked under the scratch cache ($kernel)" \
    "$([[ "$kernel" == "$scratch"/* && -s "$kernel" ]]; echo $?)"
check "/boot, /lib/modules and the installed packages unchanged" \
    "$([ "$before" = "$after" ]; echo $?)" "$(diff <(echo "$before") <(echo "$after") | head -5)"
exit $fail

#!/usr/bin/env bash
# Installs every dependency of TierVM from Debian 12 (idempotent).
# Adds deb-src entries (QEMU source package) and bookworm-backports
# (the 6.12 guest kernel).  Must run as root.
#   install-deps.sh --list   prints the packages it installs, one per line
#                            (tests/setup/test_host_safe.sh checks that
#                            their dependency closure holds no kernel image)
. "$(dirname "$0")/lib.sh"

pkgs=(
    # C/C++ build and tests
    build-essential cmake ninja-build pkg-config git
    libgtest-dev libgmock-dev googletest libbenchmark-dev
    # Debian packages (cpack DEB: dpkg-dev's dpkg-shlibdeps) and their man
    # pages (help2man, from each program's --help)
    help2man
    libabsl-dev nlohmann-json3-dev
    # QEMU source build (DESIGN.md section 2)
    dpkg-dev meson libglib2.0-dev libpixman-1-dev libfdt-dev flex bison
    python3-venv python3 zlib1g-dev
    # VM rig: firmware, guest kernel modules, initramfs
    # (guest kernel headers are unpacked into the cache below, never
    # installed: the 6.12 headers package pulls in the 6.12 image)
    qemu-system-data seabios busybox-static cpio xz-utils kmod bc gcc-12
    # pahole: the 6.12 headers ship vmlinux, so kbuild writes module BTF
    # (a dependency of Debian's linux-kbuild-6.12, which is not installed)
    dwarves
    # results and plots
    jq gnuplot-nox
    # daemons: config, logs, metrics, systemd notify, PMU event encoding,
    # NUMA, libvirt adapter and converter (XML), dedup readers
    libtomlplusplus-dev libspdlog-dev libsystemd-dev libpfm4-dev libnuma-dev
    libvirt-dev libxml2-dev libxml2-utils
    # libvirt integration test: a real libvirtd (started by the test)
    libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
    # benchmarks: recorded traces of real programs, guest workloads
    valgrind redis-server redis-tools sqlite3 zstd
)
if [ "${1:-}" = --list ]; then
    printf '%s\n' "${pkgs[@]}"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root (apt-get)"
export DEBIAN_FRONTEND=noninteractive

src=/etc/apt/sources.list.d/tiervm.sources
want=$(cat <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
)
if [ ! -f "$src" ] || [ "$(cat "$src")" != "$want" ]; then
    printf '%s\n' "$want" > "$src"
    log "wrote $src"
fi

stamp=$TIERVM_CACHE/apt-updated
mkdir -p "$TIERVM_CACHE"
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +360)" ] || [ "$src" -nt "$stamp" ]; then
    apt-get update -q >&2
    touch "$stamp"
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    # Install, do not start: the daemons these packages bring (libvirtd,
    # virtlogd, redis-server) are started by the tests that need them, by
    # PID, with private configs; a system libvirtd started here would hold
    # the qemu driver's state (tests/vm/test_libvirt.py refuses to share it).
    # policy-rc.d exit 101 = "action forbidden" (invoke-rc.d and
    # deb-systemd-invoke honour it); only ours is removed afterwards.
    policy=/usr/sbin/policy-rc.d
    ours=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        ours=1
    fi
    rc=0
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || rc=$?
    [ "$ours" = 1 ] && rm -f "$policy"
    [ "$rc" = 0 ] || die "apt-get install failed (exit $rc)"
fi
for series in 6.1 6.12; do
    "$TIERVM_TOP/scripts/fetch-guest-headers.sh" "$series" > /dev/null
done
log "dependencies present"

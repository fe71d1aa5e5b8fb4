#!/usr/bin/env bash
# Builds the Debian packages (cpack, cmake/Packaging.cmake) from a built
# tree and checks them without installing anything on this machine:
#  1. three packages, tiervm-host, tiervm-guest (this architecture) and
#     hballoon-dkms (all), with shared-library Depends and maintainer
#     scripts that parse (sh -n);
#  2. each unpacked (dpkg-deb -x) into one scratch root: the expected
#     files, programs executable, the hook symlink resolving inside the
#     root, man pages, nothing under /usr/local;
#  3. conffiles (from the control archive) are exactly the files under /etc
#     and exist; the shipped agent.toml is refused until `budget` is set;
#  4. units: ExecStart under /usr, naming a program in the root; hplaced
#     only in a VM with /dev/hballoon; `systemd-analyze verify --root=`
#     clean; `systemd-analyze security` exposure printed (not asserted);
#  5. the DKMS source builds: dkms.conf's MAKE run in a copy of
#     /usr/src/hballoon-<version> against the unpacked 6.1 and 6.12 guest
#     headers (scripts/fetch-guest-headers.sh), as DKMS runs it on install;
#  6. dpkg --root installs, reinstalls, removes and purges tiervm-host and
#     tiervm-guest in a second scratch root (its own database and log).
# usage: test_packages.sh BUILD_DIR.  ctest label: pkg.
set -euo pipefail
build=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/lib.sh"
work=$(mktemp -d /tmp/tiervm-pkg-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
check() {  # check DESCRIPTION STATUS [DETAIL]
    if [ "$2" = 0 ]; then echo "PASS: $1"; else echo "FAIL: $1${3:+: $3}"; fail=1; fi
}
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[ -n "$version" ] || die "no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"
arch=$(dpkg --print-architecture)

# 1. Build.
t0=$(date +%s)
if ! cpack --config "$build/CPackConfig.cmake" -B "$work/out" > "$work/cpack.log" 2>&1; then
    cat "$work/cpack.log"; die "cpack failed"
fi
echo "cpack: $(( $(date +%s) - t0 )) s"
declare -A deb=(
    [tiervm-host]=$work/out/tiervm-host_${version}-1_${arch}.deb
    [tiervm-guest]=$work/out/tiervm-guest_${version}-1_${arch}.deb
    [hballoon-dkms]=$work/out/hballoon-dkms_${version}-1_all.deb
)
root=$work/root
# systemd-analyze verify --root= loads every unit from the root: start it
# with this machine's systemd units (targets, slices, libvirtd.service), as
# a system the packages are installed on has them.
mkdir -p "$root/usr/lib/systemd/system"
cp -a /lib/systemd/system/. "$root/usr/lib/systemd/system/"
for p in tiervm-host tiervm-guest hballoon-dkms; do
    f=${deb[$p]}
    if [ ! -f "$f" ]; then check "$p built" 1 "no $f ($(ls "$work/out"))"; continue; fi
    check "$p built ($(du -k "$f" | cut -f1) KiB)" 0
    check "$p: Package field" "$([ "$(dpkg-deb -f "$f" Package)" = "$p" ]; echo $?)"
    mkdir -p "$work/ctrl/$p"
    dpkg-deb -e "$f" "$work/ctrl/$p"
    for s in postinst prerm postrm; do
        [ -f "$work/ctrl/$p/$s" ] || continue
        check "$p: $s parses, is executable" \
            "$([ -x "$work/ctrl/$p/$s" ] && sh -n "$work/ctrl/$p/$s"; echo $?)"
    done
    echo "--- $p: $(dpkg-deb -f "$f" Depends)"
    dpkg-deb -c "$f" | awk '{print $1, $6, $7, $8}' | sed 's|^\(.\{10\}\) \./|\1 /|'
    dpkg-deb -x "$f" "$root"
done
dep_host=$(dpkg-deb -f "${deb[tiervm-host]}" Depends 2>/dev/null || true)
check "tiervm-host Depends from shlibdeps (libc6, libvirt0, libsystemd0)" \
    "$(for l in libc6 libvirt0 libsystemd0; do grep -qw "$l" <<< "$dep_host" || exit 1; done; echo 0)" "$dep_host"
check "hballoon-dkms depends on dkms" \
    "$(dpkg-deb -f "${deb[hballoon-dkms]}" Depends 2>/dev/null | grep -qw dkms; echo $?)"

# 2. Files.
for f in /usr/bin/tiervm-agent /usr/bin/tiervm /usr/bin/tiervm-xml \
         /usr/libexec/tiervm/tiervm-libvirt-hook /usr/sbin/hplaced; do
    check "executable $f" "$([ -x "$root$f" ] && [ -f "$root$f" ]; echo $?)"
done
for f in /usr/bin/tiervm-agent /usr/bin/tiervm /usr/bin/tiervm-xml /usr/sbin/hplaced; do
    [ -x "$root$f" ] || continue
    check "unpacked $f --help runs (stripped, libraries found)" \
        "$("$root$f" --help > /dev/null 2>&1; echo $?)"
done
for f in /usr/lib/systemd/system/tiervm-agent.service /usr/lib/systemd/system/hplaced.service \
         /usr/lib/udev/rules.d/60-hplaced.rules \
         /usr/share/tiervm/tiervm-tiering.rng /usr/share/tiervm/examples/tiered.xml \
         /usr/share/doc/tiervm/agent.toml.example /usr/share/doc/tiervm/host-agent/README.md \
         /usr/share/doc/tiervm/hplaced/README.md \
         /usr/share/man/man8/tiervm-agent.8.gz /usr/share/man/man1/tiervm.1.gz \
         /usr/share/man/man1/tiervm-xml.1.gz /usr/share/man/man8/hplaced.8.gz \
         "/usr/src/hballoon-$version/dkms.conf" "/usr/src/hballoon-$version/hballoon.c" \
         "/usr/src/hballoon-$version/Kbuild" "/usr/src/hballoon-$version/Makefile" \
         "/usr/src/hballoon-$version/include/uapi/linux/virtio_hballoon.h" \
         "/usr/src/hballoon-$version/include/uapi/linux/hballoon.h"; do
    check "file $f" "$([ -f "$root$f" ]; echo $?)"
done
for m in "$root"/usr/share/man/man*/*.gz; do
    [ -f "$m" ] || continue
    check "man page ${m#"$root"} has a NAME and the usage" \
        "$(zcat "$m" | grep -q '^\.SH NAME' && zcat "$m" | grep -qi 'usage'; echo $?)"
done
hook=$root/etc/libvirt/hooks/qemu.d/tiervm
check "libvirt hook symlink -> /usr/libexec/tiervm/tiervm-libvirt-hook" \
    "$([ -L "$hook" ] && [ "$(readlink "$hook")" = /usr/libexec/tiervm/tiervm-libvirt-hook ]; echo $?)" \
    "$(readlink "$hook" 2>&1 || true)"
check "nothing under /usr/local" "$([ ! -e "$root/usr/local" ]; echo $?)"
check "no path of the build tree in the unpacked files" \
    "$(! grep -rlI -- "$build" "$root/etc" "$root/usr/lib/systemd" "$root/usr/src" > /dev/null; echo $?)"

# 3. Conffiles: exactly the regular files under /etc.
for p in tiervm-host tiervm-guest hballoon-dkms; do
    want=$(dpkg-deb -c "${deb[$p]}" | awk '$1 ~ /^-/ {print $6}' | sed 's|^\./|/|' |
           grep '^/etc/' | sort || true)
    have=$(sort "$work/ctrl/$p/conffiles" 2>/dev/null || true)
    check "$p conffiles = its files under /etc (${have//$'\n'/ })" \
        "$([ "$want" = "$have" ]; echo $?)" "control: [$have] files: [$want]"
done
for f in /etc/tiervm/agent.toml /etc/tiervm/libvirt-hook.conf /etc/tiervm/hplaced.toml; do
    check "conffile $f shipped" "$([ -f "$root$f" ]; echo $?)"
done
out=$("$root/usr/bin/tiervm-agent" --config "$root/etc/tiervm/agent.toml" --check-config 2>&1) && rc=0 || rc=$?
check "shipped agent.toml: refused until budget is set (exit 2)" \
    "$([ "$rc" = 2 ] && grep -q 'budget: required' <<< "$out"; echo $?)" "exit $rc: $out"
out=$("$root/usr/bin/tiervm-agent" --config "$root/etc/tiervm/agent.toml" --budget 1GiB \
      --check-config 2>&1) && rc=0 || rc=$?
check "shipped agent.toml with a budget checks" "$rc" "$out"

# 4. Units.
unit_a=$root/usr/lib/systemd/system/tiervm-agent.service
unit_g=$root/usr/lib/systemd/system/hplaced.service
check "agent ExecStart=/usr/bin/tiervm-agent --config /etc/tiervm/agent.toml" \
    "$(grep -qx 'ExecStart=/usr/bin/tiervm-agent --config /etc/tiervm/agent.toml' "$unit_a"; echo $?)" \
    "$(grep ExecStart= "$unit_a" || true)"
check "hplaced ExecStart=/usr/sbin/hplaced --config=/etc/tiervm/hplaced.toml ..." \
    "$(grep -q '^ExecStart=/usr/sbin/hplaced --config=/etc/tiervm/hplaced.toml ' "$unit_g"; echo $?)" \
    "$(grep ExecStart= "$unit_g" || true)"
check "agent LimitNOFILE= covers one QMP socket per VM (issue 13)" \
    "$(grep -qx 'LimitNOFILE=16384' "$unit_a"; echo $?)" "$(grep LimitNOFILE= "$unit_a" || true)"
check "hplaced only in a VM" "$(grep -qx 'ConditionVirtualization=vm' "$unit_g"; echo $?)"
check "hplaced ExecStopPost= puts back kernel.numa_balancing after a SIGKILL" \
    "$(grep -q '^ExecStopPost=/usr/sbin/hplaced --config=/etc/tiervm/hplaced.toml .*--restore-numa-balancing$' "$unit_g"; echo $?)" \
    "$(grep ExecStopPost= "$unit_g" || true)"
check "hplaced only with /dev/hballoon" \
    "$(grep -qx 'ConditionPathExists=/dev/hballoon' "$unit_g"; echo $?)"
for u in tiervm-agent.service hplaced.service; do
    out=$(systemd-analyze verify --man=no --root="$root" "$u" 2>&1) && rc=0 || rc=$?
    check "systemd-analyze verify --root $u: clean" "$([ "$rc" = 0 ] && [ -z "$out" ]; echo $?)" \
        "exit $rc: $out"
    echo "systemd-analyze security $u: $(systemd-analyze security --offline=yes --root="$root" "$u" 2>&1 |
        grep 'Overall exposure' || echo '(no score)')"
done

# The check can fail: a unit naming a program that is not there.
sed 's|^ExecStart=/usr/sbin/hplaced |ExecStart=/usr/sbin/hplaced-missing |' "$unit_g" \
    > "$root/usr/lib/systemd/system/tiervm-bad.service"
out=$(systemd-analyze verify --man=no --root="$root" tiervm-bad.service 2>&1) || true
check "systemd-analyze verify --root flags a unit whose program is missing" \
    "$(grep -q 'hplaced-missing' <<< "$out"; echo $?)" "$out"
rm -f "$root/usr/lib/systemd/system/tiervm-bad.service"

# 5. The DKMS source builds against both guest kernels' headers (a few
# seconds each).
for series in 6.1 6.12; do
    kver=$(kver_for_series "$series")
    kdir=$TIERVM_CACHE/headers/$kver/root/usr/src/linux-headers-$kver
    src=$work/dkms-build-$series
    cp -a "$root/usr/src/hballoon-$version" "$src"
    t0=$(date +%s)
    out=$(cd "$src" && kernel_source_dir=$kdir &&
          . ./dkms.conf && [ "$PACKAGE_NAME" = hballoon ] && [ "$PACKAGE_VERSION" = "$version" ] &&
          eval "${MAKE[0]}" 2>&1) && rc=0 || rc=$?
    check "dkms.conf MAKE builds hballoon.ko against $kver ($(( $(date +%s) - t0 )) s)" \
        "$([ "$rc" = 0 ] && [ -f "$src/hballoon.ko" ]; echo $?)" "exit $rc: $(tail -n 20 <<< "$out")"
    if [ -f "$src/hballoon.ko" ]; then
        vm=$(modinfo -F vermagic "$src/hballoon.ko" 2>/dev/null || true)
        check "hballoon.ko vermagic is $kver" "$(grep -q "^$kver " <<< "$vm"; echo $?)" "$vm"
    fi
done

# 6. dpkg itself, in a scratch root of its own (dpkg --root, its own
# database and log; maintainer scripts run chrooted with busybox as
# /bin/sh; no systemd there, so they only do what they do without one):
# install, conffiles registered, an edited conffile kept on reinstall,
# remove keeps conffiles, purge removes them.  Not hballoon-dkms: its
# scripts need dkms.
r2=$work/dpkg-root
mkdir -p "$r2/var/lib/dpkg/info" "$r2/var/lib/dpkg/updates" "$r2/var/log" "$r2/bin" "$r2/tmp"
touch "$r2/var/lib/dpkg/status" "$r2/var/lib/dpkg/available"
cp /bin/busybox "$r2/bin/busybox" && ln -s busybox "$r2/bin/sh"
dp() { dpkg --root="$r2" --log="$r2/var/log/dpkg.log" --force-depends --force-bad-path \
            --force-confold "$@" > "$work/dpkg.log" 2>&1; }
st() { dpkg-query --admindir="$r2/var/lib/dpkg" -W -f='${Status}' "$1" 2>/dev/null || true; }
dp -i "${deb[tiervm-host]}" "${deb[tiervm-guest]}" && rc=0 || rc=$?
check "dpkg --root -i tiervm-host tiervm-guest (maintainer scripts run)" \
    "$([ "$rc" = 0 ] && [ "$(st tiervm-host)" = "install ok installed" ] &&
       [ "$(st tiervm-guest)" = "install ok installed" ]; echo $?)" "exit $rc: $(tail -n 5 "$work/dpkg.log")"
cf=$(dpkg-query --admindir="$r2/var/lib/dpkg" -W -f='${Conffiles}\n' tiervm-host tiervm-guest |
     awk 'NF {print $1}' | sort | tr '\n' ' ')
check "dpkg registered the conffiles ($cf)" \
    "$([ "$cf" = "/etc/tiervm/agent.toml /etc/tiervm/hplaced.toml /etc/tiervm/libvirt-hook.conf " ]; echo $?)"
echo 'budget = "4GiB"' >> "$r2/etc/tiervm/agent.toml"
dp -i "${deb[tiervm-host]}" && rc=0 || rc=$?
check "reinstall keeps an edited agent.toml" \
    "$([ "$rc" = 0 ] && tail -n 1 "$r2/etc/tiervm/agent.toml" | grep -qx 'budget = "4GiB"'; echo $?)" \
    "exit $rc: $(tail -n 5 "$work/dpkg.log")"
dp -r tiervm-host && rc=0 || rc=$?
check "remove: programs gone, conffiles kept" \
    "$([ "$rc" = 0 ] && [ ! -e "$r2/usr/bin/tiervm-agent" ] && [ ! -L "$r2/etc/libvirt/hooks/qemu.d/tiervm" ] &&
       [ -f "$r2/etc/tiervm/agent.toml" ] && [ "$(st tiervm-host)" = "deinstall ok config-files" ]; echo $?)" \
    "exit $rc: $(st tiervm-host)"
dp -P tiervm-host tiervm-guest && rc=0 || rc=$?
check "purge: conffiles gone" \
    "$([ "$rc" = 0 ] && [ ! -e "$r2/etc/tiervm/agent.toml" ] && [ ! -e "$r2/etc/tiervm/hplaced.toml" ] &&
       [ ! -e "$r2/usr/sbin/hplaced" ]; echo $?)" "exit $rc: $(ls -R "$r2/etc" 2>&1 | head)"

[ $fail = 0 ] && echo "PASS: packages" || echo "FAIL: packages"
exit $fail

"""VM test: who may scan or locate whose pages through an open /dev/hballoon
(issue 13, defect 9).

Opening /dev/hballoon needs CAP_SYS_ADMIN; HBALLOON_IOC_SCAN_YOUNG and
HBALLOON_IOC_LOCATE must in addition pass ptrace's read check on the target
at every call, with the caller's credentials of that moment.  In the guest,
tests/vm/guest/scanperm (built by CMake, path in TIERVM_SCANPERM, put in
through the rig overlay) opens the device as root, forks a root process,
drops to uid 65534 keeping the fd, and checks:
  - as root, before the drop: both ioctls on the root child work;
  - after the drop: on the root child and on PID 1, EPERM (SCAN_YOUNG with
    and without NO_CLEAR, LOCATE); on itself, and on a dumpable child of
    its own uid, they work and see all 64 pages; on a non-dumpable child
    of its own uid, EPERM; on a reaped pid and on kthreadd, ESRCH.
A module without the per-call check lets the unprivileged caller scan the
root child and PID 1 (the EPERM checks fail).  The guest log must show no
WARN or BUG.
Results: results/vm_hballoon_scan_perm[_6_12].json.

TIERVM_HBALLOON_KO_<6_1|6_12> (optional) overlays another hballoon.ko
over the rig's, as in test_abit_scan.py.
"""

import os
import re

import rig
import vmtest

# Lines scanperm prints "check ..." for (see its main()).
WANT_CHECKS = 26


def body(t):
    prog = os.environ.get("TIERVM_SCANPERM")
    t.check("scanperm program built", prog and os.path.isfile(prog), prog)
    overlay = {"/bin/scanperm": prog}
    overlay.update(rig.module_overlay(t.series))
    with rig.Guest(t.env, "scanperm", series=t.series, nodes_mib=(512, 512),
                   overlay=overlay) as g:
        rc, out = g.run("scanperm /dev/hballoon 65534", timeout=300,
                        check=False)
        print(out)
        seen = 0
        for line in out.splitlines():
            m = re.match(r"check (OK|FAIL) (\S+) ?(.*)$", line.strip())
            if m:
                seen += 1
                t.check(m.group(2), m.group(1) == "OK", m.group(3))
        t.check("scanperm ran to the end", "done failures=" in out and
                seen == WANT_CHECKS, "%d of %d" % (seen, WANT_CHECKS))
        t.check("scanperm exit status", rc == 0, rc)
        dmesg = g.run("dmesg")
        bad = [line for line in dmesg.splitlines()
               if re.search(r"WARNING:|BUG:|Oops", line)]
        t.check("no WARN/BUG in the guest log", not bad, bad[:5])
        t.check("device not broken", not g.hb_info()["broken"])


if __name__ == "__main__":
    vmtest.main("vm_hballoon_scan_perm", body)

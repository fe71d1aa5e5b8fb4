"""VM test: deflate-on-OOM.

Node 0 (1 GiB FMEM) is ballooned to 768 MiB.  A guest program bound to
node 0 then allocates and touches more than node 0 has left; the driver
must give ballooned pages back from its OOM notifier so the program gets
its memory, and nothing is OOM-killed.
"""

import rig
import vmtest

MIB = rig.MIB


def body(t):
    with rig.Guest(t.env, "oom", series=t.series) as g:
        g.hb_set_target(0, 768 * MIB)
        g.hb_wait_actual(0, 768 * MIB, timeout=60)
        free = g.mem_free(0)
        want_mib = free // MIB + 128
        t.figure("node0_free_mib_before", free // MIB)
        t.figure("alloc_mib", want_mib)
        rc, out = g.run("memhog --node 0 --mb %d --touch" % want_mib,
                        timeout=600, check=False)
        t.check("program bound to node 0 got %d MiB (> free %d MiB)" %
                (want_mib, free // MIB), rc == 0 and "ok" in out, out[-300:])
        dmesg = g.run("dmesg")
        killed = [l for l in dmesg.splitlines()
                  if "Out of memory" in l or "oom-kill" in l
                  or "Killed process" in l]
        t.check("no OOM kill in the guest", not killed, killed[:3])
        actual = g.hb_node(0)["actual"]
        t.figure("node0_actual_mib_after", actual // MIB)
        t.check("balloon gave pages back (actual < target)",
                actual < 768 * MIB, actual // MIB, 768)
        t.check("guest still responsive", g.run("echo alive") == "alive")


if __name__ == "__main__":
    vmtest.main("vm_hballoon_oom", body)

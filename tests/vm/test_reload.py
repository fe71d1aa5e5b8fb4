"""VM test: unload and reload hballoon.ko with a non-empty balloon.

Both nodes are partly ballooned; rmmod must return every page to the guest
(and the device's count must fall to 0); after insmod the driver inflates
back to the targets that are still set.
"""

import time

import rig
import vmtest

MIB = rig.MIB


def body(t):
    with rig.Guest(t.env, "reload", series=t.series) as g:
        free_before = [g.free_bytes(n) for n in (0, 1)]
        g.hb_set_target(0, 256 * MIB)
        g.hb_set_target(1, 512 * MIB)
        g.hb_wait_actual(0, 256 * MIB)
        g.hb_wait_actual(1, 512 * MIB)
        ballooned = [g.free_bytes(n) for n in (0, 1)]
        t.check("node 0 ballooned ~256 MiB",
                free_before[0] - ballooned[0] >= 250 * MIB,
                (free_before[0] - ballooned[0]) // MIB, 250)
        t.check("node 1 ballooned ~512 MiB",
                free_before[1] - ballooned[1] >= 500 * MIB,
                (free_before[1] - ballooned[1]) // MIB, 500)

        rc, out = g.run("rmmod hballoon", check=False, timeout=120)
        t.check("rmmod succeeds with a non-empty balloon", rc == 0, out)
        time.sleep(0.5)
        after = [g.free_bytes(n) for n in (0, 1)]
        for n in (0, 1):
            t.check("node %d: all pages back in the guest (within 32 MiB)" % n,
                    free_before[n] - after[n] < 32 * MIB,
                    (free_before[n] - after[n]) // MIB, 32)
            t.check("node %d: device count back to 0" % n,
                    g.hb_node(n)["actual"] == 0, g.hb_node(n)["actual"])

        rc, out = g.run("insmod /lib/hb/hballoon.ko", check=False)
        t.check("insmod again", rc == 0, out)
        took = g.hb_wait_actual(1, 512 * MIB, timeout=60)
        g.hb_wait_actual(0, 256 * MIB, timeout=60)
        t.figure("reinflate_s", round(took, 2))
        again = [g.free_bytes(n) for n in (0, 1)]
        for n, mib in ((0, 250), (1, 500)):
            t.check("node %d: reloaded driver inflated again (>= %d MiB)"
                    % (n, mib), free_before[n] - again[n] >= mib * MIB,
                    (free_before[n] - again[n]) // MIB, mib)


if __name__ == "__main__":
    vmtest.main("vm_hballoon_reload", body)

"""VM test: live migration keeps per-node balloon state.

A guest with both nodes partly ballooned migrates to a second QEMU on this
host (-incoming over a unix socket).  On the destination the device must
report the same targets and actuals, the guest driver the same per-node
balloon, the guest keeps running (state written before migration is read
back after it), the destination host does not keep the ballooned memory
that the migration stream populated, and deflating on the destination
returns the memory.
"""

import time

import rig
import vmtest

MIB = rig.MIB
TARGETS = {0: 256 * MIB, 1: 384 * MIB}


def guest_actuals(g):
    """Per-node actual_pages as the guest driver reports it (hbctl)."""
    res = {}
    for line in g.run("hbctl info").splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if "node" in fields and "actual_pages" in fields:
            res[int(fields["node"])] = int(fields["actual_pages"]) * 4096
    return res


def body(t):
    src = rig.Guest(t.env, "migsrc", series=t.series).start()
    dst = None
    try:
        for n, b in TARGETS.items():
            src.hb_set_target(n, b)
        for n, b in TARGETS.items():
            src.hb_wait_actual(n, b)
        src.qmp.cmd("__org.tiervm_hballoon-set-pressure", id="hb0",
                    level="high")
        src.run("echo before-migration > /tmp/marker")
        before = src.hb_info()
        gbefore = guest_actuals(src)
        free_before = [src.free_bytes(n) for n in (0, 1)]

        sock = src.path("migrate.sock")
        dst = rig.Guest(t.env, "migdst", series=t.series,
                        incoming="unix:" + sock).start()
        t0 = time.monotonic()
        src.qmp.cmd("migrate", uri="unix:" + sock)
        while True:
            st = src.qmp.cmd("query-migrate").get("status")
            if st in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() - t0 > 300:
                raise rig.RigError("migration did not finish: %s" % st)
            time.sleep(0.2)
        t.figure("migration_s", round(time.monotonic() - t0, 2))
        t.check("migration completed", st == "completed", st)
        for _ in range(100):
            if dst.qmp.cmd("query-status")["status"] == "running":
                break
            time.sleep(0.1)
        t.check("destination running",
                dst.qmp.cmd("query-status")["status"] == "running")

        after = dst.hb_info()
        for n in (0, 1):
            b, a = before["nodes"][n], after["nodes"][n]
            for k in ("target", "actual", "guest-actual", "tier", "size"):
                t.check("node %d: %s same on destination" % (n, k),
                        b[k] == a[k], a[k], b[k])
        t.check("pressure level migrated",
                after["pressure"] == before["pressure"], after["pressure"])
        t.check("guest keeps running (state from before migration)",
                dst.run("cat /tmp/marker") == "before-migration")
        gafter = guest_actuals(dst)
        t.check("guest driver's per-node balloon unchanged",
                gafter == gbefore, gafter, gbefore)
        free_after = [dst.free_bytes(n) for n in (0, 1)]
        for n in (0, 1):
            t.check("node %d: guest MemFree unchanged (< 16 MiB)" % n,
                    abs(free_after[n] - free_before[n]) < 16 * MIB,
                    (free_after[n] - free_before[n]) // MIB, 16)
            held = dst.backend_bytes(n)
            t.figure("node%d_dst_backend_mib" % n, held // MIB)
            limit = after["nodes"][n]["size"] - TARGETS[n]
            t.check("node %d: destination host does not hold the ballooned "
                    "memory" % n, held <= limit, held // MIB, limit // MIB)

        for n in (0, 1):
            dst.hb_set_target(n, 0)
        for n in (0, 1):
            took = dst.hb_wait_actual(n, 0, timeout=60)
            t.figure("node%d_deflate_on_dst_s" % n, round(took, 2))
        time.sleep(0.5)
        for n in (0, 1):
            got = dst.free_bytes(n) - free_after[n]
            t.check("node %d: deflate on destination returned the pages" % n,
                    got >= TARGETS[n] - 16 * MIB, got // MIB,
                    TARGETS[n] // MIB)
    finally:
        if dst:
            dst.stop()
        src.stop()


if __name__ == "__main__":
    vmtest.main("vm_hballoon_migration", body)

"""TierVM demo: per-node resizing of a tiered VM, shown live.

Boots one guest (node 0 FMEM 1 GiB, node 1 SMEM 1 GiB), then walks the
host-side targets through a schedule, printing after each step a table of
both nodes: QMP target and device-counted actual, the guest's MemFree on
the node, and host memory held by the node's backend.  Writes the
time series to results/demo.json (fields: steps[] with t_s, node, target_mib,
and per-node rows).
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "vm"))
import rig  # noqa: E402

MIB = rig.MIB
SCHEDULE = [  # (node, target MiB): shrink FMEM, shrink SMEM, give back
    (0, 512), (1, 256), (0, 768), (1, 640), (0, 128), (1, 0), (0, 0)]


def row(g, node):
    n = g.hb_node(node)
    return {"node": node, "tier": n["tier"], "target_mib": n["target"] // MIB,
            "actual_mib": n["actual"] // MIB,
            "guest_free_mib": g.mem_free(node) // MIB,
            "host_backend_mib": g.backend_bytes(node) // MIB}


def show(rows, t):
    print("t=%6.1fs  %-4s %-5s %10s %10s %14s %16s" % (
        t, "node", "tier", "target", "actual", "guest MemFree",
        "host backend"))
    for r in rows:
        print("          %-4d %-5s %7d MiB %7d MiB %10d MiB %12d MiB" % (
            r["node"], r["tier"], r["target_mib"], r["actual_mib"],
            r["guest_free_mib"], r["host_backend_mib"]))
    sys.stdout.flush()


def main():
    env = rig.load_env()
    accel = "KVM" if env.get("KVM_USABLE") == "1" else "TCG (KVM not usable)"
    print("TierVM demo: booting a 2-node tiered guest under %s" % accel)
    steps = []
    with rig.Guest(env, "demo") as g:
        print("guest up: %s" % " ".join(g.banner))
        # Touch the guest's memory so the host backends really hold it.
        for node in (0, 1):
            g.run("memhog --node %d --mb 700 --touch" % node, timeout=300)
        t0 = time.monotonic()
        show([row(g, 0), row(g, 1)], 0)
        for node, mib in SCHEDULE:
            print("\n>>> host sets node %d (%s) target to %d MiB" % (
                node, "FMEM" if node == 0 else "SMEM", mib))
            g.hb_set_target(node, mib * MIB)
            took = g.hb_wait_actual(node, mib * MIB, timeout=120)
            rows = [row(g, 0), row(g, 1)]
            t = time.monotonic() - t0
            show(rows, t)
            print("    converged in %.2f s" % took)
            time.sleep(1)  # let a person read the table
            steps.append({"t_s": round(t, 2), "node": node, "target_mib": mib,
                          "converged_s": round(took, 2), "nodes": rows})
    path = rig.write_result("demo", {"accel": accel, "steps": steps})
    print("\nwrote %s" % path)


if __name__ == "__main__":
    main()

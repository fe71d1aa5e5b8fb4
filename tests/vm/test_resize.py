"""VM test: per-node resize through QMP.

Guest: node 0 FMEM 1 GiB, node 1 SMEM 1 GiB.  For each node: touch the
node's free memory (so the host backend really holds it), set the node's
target to 768 MiB, and require within 10 s: QMP actual == target, the
guest node's MemFree fell by >= 740 MiB, the other node's MemFree did not
move (< 32 MiB), and the host backend of that node (allocated blocks of its
backing file, and Rss of its mapping in QEMU) fell by >= 740 MiB.  Then
deflate to 0 and require the memory back in the guest.
"""

import time

import rig
import vmtest

MIB = rig.MIB
TARGET = 768 * MIB


def resize_node(t, g, node):
    other = 1 - node
    # Fault the node's free memory in on the host, then free it in the
    # guest (leave some slack: the kernel needs a little on every node).
    g.run("memhog --node %d --mb %d --touch" %
          (node, g.mem_free(node) // MIB - 64), timeout=300)
    free0 = g.settled_free_bytes(node)
    other0 = g.settled_free_bytes(other)
    memfree0 = g.mem_free(node)
    host0 = g.backend_bytes(node)
    rss0 = g.backend_rss(node)

    g.hb_set_target(node, TARGET)
    took = g.hb_wait_actual(node, TARGET, timeout=60)
    t.figure("node%d_inflate_768mib_s" % node, round(took, 2))
    t.check("node %d: QMP actual == target within 10 s" % node, took <= 10,
            round(took, 2), 10)
    # The guest writes its mirror after the device's response.
    lag = g.hb_wait_actual(node, TARGET, timeout=10, key="guest-actual")
    t.check("node %d: guest-written actual follows within 1 s" % node,
            lag <= 1, round(lag, 2), 1)

    free1 = g.settled_free_bytes(node)
    other1 = g.settled_free_bytes(other)
    t.figure("node%d_memfree_fell_mib" % node,
             (memfree0 - g.mem_free(node)) // MIB)
    host1 = g.backend_bytes(node)
    rss1 = g.backend_rss(node)
    t.check("node %d: guest free memory (MemFree + per-CPU lists) fell "
            ">= 740 MiB" % node,
            free0 - free1 >= 740 * MIB, (free0 - free1) // MIB, 740)
    t.check("node %d: other node's free memory unchanged (< 32 MiB)" % node,
            abs(other0 - other1) < 32 * MIB, (other0 - other1) // MIB, 32)
    t.check("node %d: host backend blocks fell >= 740 MiB" % node,
            host0 - host1 >= 740 * MIB, (host0 - host1) // MIB, 740)
    t.check("node %d: host backend Rss fell >= 740 MiB" % node,
            rss0 - rss1 >= 740 * MIB, (rss0 - rss1) // MIB, 740)
    t.figure("node%d_host_backend_mib" % node,
             {"before": host0 // MIB, "ballooned": host1 // MIB})

    g.hb_set_target(node, 0)
    took = g.hb_wait_actual(node, 0, timeout=60)
    t.figure("node%d_deflate_768mib_s" % node, round(took, 2))
    t.check("node %d: deflated back within 10 s" % node, took <= 10,
            round(took, 2), 10)
    time.sleep(0.5)
    free2 = g.settled_free_bytes(node)
    t.figure("node%d_pcp_mib_after_deflate" % node, g.pcp_bytes(node) // MIB)
    t.check("node %d: guest got the memory back (free memory within 32 MiB)"
            % node, abs(free0 - free2) < 32 * MIB, (free0 - free2) // MIB, 32)
    # And it is usable: allocate it on that node.
    rc, out = g.run("memhog --node %d --mb 800 --touch" % node, timeout=300,
                    check=False)
    t.check("node %d: 800 MiB allocatable again" % node, rc == 0, out[-200:])


def body(t):
    with rig.Guest(t.env, "resize", series=t.series) as g:
        info = g.hb_info()
        t.check("device reports two nodes", len(info["nodes"]) == 2,
                len(info["nodes"]))
        tiers = [n["tier"] for n in info["nodes"]]
        t.check("tiers are fmem, smem", tiers == ["fmem", "smem"], tiers)
        for node in (0, 1):
            resize_node(t, g, node)
        t.figure("discard_calls", g.hb_info()["discard-calls"])


if __name__ == "__main__":
    vmtest.main("vm_hballoon_resize", body)

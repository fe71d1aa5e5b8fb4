"""VM test: ballooned pages are unmovable and kept out of movable pageblocks
(issue 13, defect 6).

hballoon.ko cannot migrate its pages (no balloon compaction).  Allocated as
movable they land in movable pageblocks, which compaction then cannot turn
into free 2 MiB blocks (THP, high-order allocations).  Allocated unmovable
(GFP_HIGHUSER, as virtio_balloon without balloon compaction) the page
allocator's anti-fragmentation groups them in unmovable pageblocks.

Guest: node 0 512 MiB, node 1 1 GiB; everything happens on node 1.

Part 1, pageblock types (one boot, default huge=1, 2 MiB balloon pages):
inflate 256 MiB and read node 1's "Number of blocks type" rows of
/proc/pagetypeinfo before and after.  Unmovable pageblocks must rise by
>= 90 % of 256 MiB / 2 MiB = 128 (a movable balloon leaves them as they
were).

Part 2, what it is for (a second boot, huge=0, 4 KiB balloon pages, the
worst case): fragment node 1 with memhog --holes 4 (512 MiB of 4 KiB pages,
every fourth one freed again: 128 one-page holes in each of the 256
pageblocks it used), inflate 128 MiB (as many pages as holes), end memhog,
compact (/proc/sys/vm/compact_memory, twice), then allocate as many 2 MiB
hugetlb pages on node 1 as its free memory could hold: >= 75 % of that free
memory must come back as 2 MiB pages (measured: 86-95 % with the balloon
unmovable, 52-59 % movable; /proc/buddyinfo after compaction is recorded
too, but free pages parked in per-CPU lists blur it).  A movable balloon
takes the holes first (order-0 free pages of its own migratetype), so its
pages end up scattered over every pageblock memhog used and compaction
cannot free those; an unmovable one takes whole free blocks (the allocator
steals the largest free block of another type and claims the pageblock).

Results: results/vm_hballoon_unmovable[_6_12].json (pageblock counts,
buddy orders, shares).

TIERVM_HBALLOON_KO_<6_1|6_12> (optional) overlays another hballoon.ko
over the rig's, as in test_abit_scan.py.
"""

import os
import re
import time

import rig
import vmtest

MIB = rig.MIB
NODE = 1
NODES_MIB = (512, 1024)
PAGEBLOCK = 2 * MIB
PART1_INFLATE = 256 * MIB
PART2_HOG_MB = 512
PART2_HOLE_EVERY = 4
PART2_INFLATE = PART2_HOG_MB * MIB // PART2_HOLE_EVERY
MIN_BLOCK_SHARE = 0.9      # of the expected new unmovable pageblocks
# Of free memory allocatable as 2 MiB pages: measured 0.86-0.95 with
# unmovable balloon pages, 0.52-0.59 with movable ones (both kernels); the
# rest is watermarks, per-CPU lists and kernel pages.
MIN_FREE_2M_SHARE = 0.75
HUGEPAGES = "/sys/devices/system/node/node%d/hugepages/" \
    "hugepages-2048kB/nr_hugepages"


def parse_pageblocks(text, node):
    """/proc/pagetypeinfo's "Number of blocks type" table -> {type: count}
    summed over node's zones."""
    cols, counts, in_table = None, {}, False
    for line in text.splitlines():
        if line.startswith("Number of blocks type"):
            cols = line.split()[4:]
            in_table = True
            continue
        if not in_table:
            continue
        m = re.match(r"Node\s+(\d+), zone\s+\S+\s+(.*)$", line)
        if not m:
            if line.strip():
                in_table = False
            continue
        if int(m.group(1)) != node:
            continue
        for col, val in zip(cols, m.group(2).split()):
            counts[col] = counts.get(col, 0) + int(val)
    if cols is None:
        raise rig.RigError("no pageblock table in /proc/pagetypeinfo")
    return counts


def parse_buddy(text, node):
    """/proc/buddyinfo -> free blocks per order, summed over node's
    zones."""
    orders = []
    for line in text.splitlines():
        m = re.match(r"Node\s+(\d+), zone\s+\S+\s+(.*)$", line)
        if not m or int(m.group(1)) != node:
            continue
        vals = [int(v) for v in m.group(2).split()]
        orders += [0] * (len(vals) - len(orders))
        for i, v in enumerate(vals):
            orders[i] += v
    return orders


def buddy_shares(orders):
    """(free bytes in the buddy lists, free bytes in blocks >= 2 MiB)."""
    total = sum(n * 4096 << k for k, n in enumerate(orders))
    big = sum(n * 4096 << k for k, n in enumerate(orders) if k >= 9)
    return total, big


def guest(t, name, overlay):
    return rig.Guest(t.env, name, series=t.series, nodes_mib=NODES_MIB,
                     overlay=overlay)


def part1(t, overlay):
    with guest(t, "unmov1", overlay) as g:
        b0 = parse_pageblocks(g.run("cat /proc/pagetypeinfo"), NODE)
        g.hb_set_target(NODE, PART1_INFLATE)
        took = g.hb_wait_actual(NODE, PART1_INFLATE, timeout=120)
        t.figure("part1_inflate_s", round(took, 2))
        b1 = parse_pageblocks(g.run("cat /proc/pagetypeinfo"), NODE)
        t.figure("part1_pageblocks_before", b0)
        t.figure("part1_pageblocks_inflated", b1)
        want = PART1_INFLATE // PAGEBLOCK
        rise = b1.get("Unmovable", 0) - b0.get("Unmovable", 0)
        t.figure("part1_unmovable_rise", rise)
        t.figure("part1_movable_fall",
                 b0.get("Movable", 0) - b1.get("Movable", 0))
        t.check("part 1: node %d unmovable pageblocks rose by >= %d %% of "
                "%d MiB / 2 MiB = %d" % (NODE, MIN_BLOCK_SHARE * 100,
                                         PART1_INFLATE // MIB, want),
                rise >= MIN_BLOCK_SHARE * want, rise,
                int(MIN_BLOCK_SHARE * want))
        g.hb_set_target(NODE, 0)
        g.hb_wait_actual(NODE, 0, timeout=120)
        t.check("part 1: device not broken", not g.hb_info()["broken"])


def wait_file(g, path, pattern, timeout):
    deadline = time.monotonic() + timeout
    while True:
        out = g.run("cat %s 2>/dev/null; true" % path)
        if re.search(pattern, out):
            return out
        if time.monotonic() > deadline:
            raise rig.RigError("%s: no %r after %ds: %s" %
                               (path, pattern, timeout, out[-300:]))
        time.sleep(0.5)


def part2(t, overlay):
    with guest(t, "unmov2", overlay) as g:
        # 4 KiB balloon pages: one per hole if the balloon takes holes.
        g.run("echo 0 > /sys/module/hballoon/parameters/huge")
        g.run("memhog --node %d --mb %d --holes %d --hold -1 > /tmp/hog.out "
              "2>&1 & echo $! > /tmp/hog.pid" % (NODE, PART2_HOG_MB,
                                                 PART2_HOLE_EVERY))
        out = wait_file(g, "/tmp/hog.out", r"ok allocated=", 300)
        t.check("part 2: memhog fragmented node %d" % NODE,
                "holes freed=" in out, out.strip().splitlines()[-2:])
        g.hb_set_target(NODE, PART2_INFLATE)
        took = g.hb_wait_actual(NODE, PART2_INFLATE, timeout=180)
        t.figure("part2_inflate_4k_s", round(took, 2))
        t.figure("part2_pageblocks_inflated", parse_pageblocks(
            g.run("cat /proc/pagetypeinfo"), NODE))
        # memhog ends on SIGTERM; wait until its memory is back.
        g.run("kill $(cat /tmp/hog.pid); while kill -0 $(cat /tmp/hog.pid) "
              "2>/dev/null; do sleep 0.2; done", timeout=120)
        g.settled_free_bytes(NODE)
        # Twice: the first pass also catches what was still settling.
        for _ in range(2):
            g.run("echo 1 > /proc/sys/vm/compact_memory", timeout=300)
        orders = parse_buddy(g.run("cat /proc/buddyinfo"), NODE)
        total, big = buddy_shares(orders)
        t.figure("part2_buddy_orders", orders)
        t.figure("part2_buddy_free_mib", total // MIB)
        t.figure("part2_buddy_free_in_2m_blocks_mib", big // MIB)
        t.figure("part2_pageblocks_compacted", parse_pageblocks(
            g.run("cat /proc/pagetypeinfo"), NODE))
        # buddyinfo alone undercounts: free pages parked in the per-CPU
        # lists (thousands after memhog's exit, 6.12 most) keep their
        # buddies from merging until something drains them.  So ask the
        # kernel for the 2 MiB pages themselves: hugetlb allocation
        # compacts, drains the per-CPU lists when it fails, and stops at
        # the node's min watermark.
        free = g.free_bytes(NODE)
        # Asked twice: the first failure drains the per-CPU lists, which
        # may complete a few more blocks for the second.
        for _ in range(2):
            got = int(g.run("echo %d > %s; cat %s" % (
                free // PAGEBLOCK, HUGEPAGES % NODE, HUGEPAGES % NODE),
                timeout=300))
        left = g.free_bytes(NODE)
        g.run("echo 0 > %s" % (HUGEPAGES % NODE))
        share = got * PAGEBLOCK / free if free else 0.0
        t.figure("part2_free_mib", free // MIB)
        t.figure("part2_hugepages_2m", got)
        t.figure("part2_free_left_mib", left // MIB)
        t.figure("part2_free_2m_share", round(share, 3))
        t.check("part 2: after compaction >= %d %% of node %d's free memory "
                "comes back as 2 MiB pages" % (MIN_FREE_2M_SHARE * 100,
                                               NODE),
                share >= MIN_FREE_2M_SHARE, round(share, 3),
                MIN_FREE_2M_SHARE)
        t.check("part 2: balloon still holds %d MiB" % (PART2_INFLATE // MIB),
                g.hb_node(NODE)["actual"] == PART2_INFLATE,
                g.hb_node(NODE)["actual"] // MIB)
        t.check("part 2: device not broken", not g.hb_info()["broken"])


def body(t):
    overlay = {}
    overlay.update(rig.module_overlay(t.series))
    part1(t, overlay)
    part2(t, overlay)


if __name__ == "__main__":
    vmtest.main("vm_hballoon_unmovable", body)

"""VM test: the host never trusts the guest.

The guest runs the debug build of hballoon.ko, whose raw-request ioctl lets
`hbctl raw` send hand-made inflate/deflate requests.  A pattern is written
and mlocked beforehand in node 1 (and node 0) memory by `pattern`.

Rejected requests (the device stays usable, nothing is discarded): node 1
PFNs named as node 0, a PFN beyond guest RAM, a PFN in the PCI hole just
above RAM, the same PFN twice, a 2 MiB PFN that is not 2 MiB aligned,
deflating a page that is not in the balloon.  Expected statuses are the
VIRTIO_HBALLOON_S_* values of the wire header.

Protocol violations (the device marks itself broken, the guest gets EIO,
QEMU keeps running; a system_reset brings the device back).  Each runs in a
fresh VM: an unknown
node, a count above VIRTIO_HBALLOON_MAX_PFNS, a declared count that does not
match the buffer, a non-zero reserved field, no response buffer, an
unsupported page order, a truncated header.

After every case the pattern must be intact: no discard outside the named
node, ever.
"""

import time

import rig
import vmtest

S_OK, S_RANGE, S_DUP, S_STATE = 0, 1, 2, 3


def start_pattern(g, node):
    g.run("pattern write --node %d --mb 8 --pfns /tmp/p%d > /tmp/pat%d.out "
          "2>&1 & echo $! > /tmp/pat%d.pid" % (node, node, node, node))
    for _ in range(300):
        rc, _ = g.run("test -f /tmp/p%d && grep -q ready /tmp/pat%d.out" %
                      (node, node), check=False)
        if rc == 0:
            return [int(x, 16) for x in
                    g.run("cat /tmp/p%d" % node).split()]
        time.sleep(0.1)
    raise rig.RigError("pattern on node %d did not start: %s" % (
        node, g.run("cat /tmp/pat%d.out" % node, check=False)))


def verify_pattern(g, node):
    g.run("kill -USR1 $(cat /tmp/pat%d.pid)" % node)
    for _ in range(300):
        out = g.run("cat /tmp/pat%d.out" % node)
        if "intact" in out or "corrupt" in out:
            return "intact" in out, out.splitlines()[-1]
        time.sleep(0.1)
    return False, "no verdict"


def raw(g, args):
    rc, out = g.run("hbctl raw " + args, check=False, timeout=60)
    fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
    return rc, fields, out


def rejected_cases(t, g, p1):
    cases = [
        ("node 1 pages named as node 0", "inflate 0 0 " +
         " ".join(hex(p) for p in p1[:16]), S_RANGE),
        ("PFN beyond guest RAM (1 TiB)", "inflate 0 0 0x10000000", S_RANGE),
        ("PFN just above RAM (PCI hole at 2 GiB)", "inflate 0 0 0x80000",
         S_RANGE),
        ("huge PFN far beyond any RAM", "inflate 1 0 0xfffffffffffff",
         S_RANGE),
        ("the same page twice", "inflate 1 0 %s %s" % (hex(p1[0]),
                                                      hex(p1[0])), S_DUP),
        ("2 MiB page not 2 MiB aligned", "inflate 1 9 %s" %
         hex((p1[0] & ~0x1ff) | 1), S_RANGE),
        ("deflating a page not in the balloon", "deflate 1 0 " +
         hex(p1[1]), S_STATE),
    ]
    info0 = g.hb_info()
    for what, args, want in cases:
        rc, f, out = raw(g, args)
        t.check("rejected: %s -> status %d" % (what, want),
                rc == 0 and f.get("status") == str(want), out)
    info = g.hb_info()
    t.check("device not broken after rejected requests", not info["broken"])
    t.check("every rejection counted",
            info["rejected-requests"] - info0["rejected-requests"] ==
            len(cases), info["rejected-requests"])
    t.check("nothing ballooned by rejected requests",
            all(n["actual"] == 0 for n in info["nodes"]))
    t.check("no host discard by rejected requests",
            info["discard-calls"] == info0["discard-calls"],
            info["discard-calls"])
    # The device still works for honest requests.
    g.hb_set_target(1, 64 * rig.MIB)
    g.hb_wait_actual(1, 64 * rig.MIB, timeout=30)
    t.check("honest inflate still works afterwards",
            g.hb_node(1)["actual"] == 64 * rig.MIB)
    g.hb_set_target(1, 0)
    g.hb_wait_actual(1, 0, timeout=30)


def broken_case(t, g, what, args):
    p1 = start_pattern(g, 1)
    start_pattern(g, 0)
    before = g.hb_info()
    rc, f, out = raw(g, args.format(p=hex(p1[0]), q=hex(p1[1])))
    t.check("violation: %s -> guest sees EIO" % what,
            f.get("error") in ("EIO", "ETIMEDOUT"), out)
    t.check("violation: %s -> QEMU alive" % what, g.alive())
    info = g.hb_info()
    t.check("violation: %s -> device marked broken" % what,
            info["broken"], info["broken"])
    t.check("violation: %s -> nothing discarded" % what,
            info["discard-calls"] == before["discard-calls"] and
            all(n["actual"] == 0 for n in info["nodes"]),
            info["discard-calls"] - before["discard-calls"])
    for node in (1, 0):
        ok, line = verify_pattern(g, node)
        t.check("violation: %s -> node %d pattern intact" % (what, node),
                ok, line)


BROKEN_CASES = [
    ("unknown node", "inflate 5 0 {p}"),
    ("count above the maximum", "inflate 1 0 {p} --num-pfns 5000"),
    ("declared count does not match the buffer",
     "inflate 1 0 {p} {q} --num-pfns 4"),
    ("non-zero reserved field", "inflate 1 0 {p} --reserved 1"),
    ("no response buffer", "inflate 1 0 {p} --no-resp"),
    ("unsupported page order", "inflate 1 3 {p}"),
    ("truncated header", "inflate 1 0 {p} --len 8"),
]


def body(t):
    with rig.Guest(t.env, "badinput", series=t.series, kmod="debug") as g:
        p1 = start_pattern(g, 1)
        start_pattern(g, 0)
        rejected_cases(t, g, p1)
        for node in (1, 0):
            ok, line = verify_pattern(g, node)
            t.check("after rejected requests: node %d pattern intact" % node,
                    ok, line)
    # Each violation breaks the device, so each gets a fresh VM (a cold
    # boot), except the last, which also checks that a system_reset brings
    # the broken device back.
    for i, (what, args) in enumerate(BROKEN_CASES):
        with rig.Guest(t.env, "badinput%d" % i, series=t.series,
                       kmod="debug") as g:
            broken_case(t, g, what, args)
            if i == len(BROKEN_CASES) - 1:
                g.qmp.cmd("system_reset")
                g.agent.wait_ready(120)
                g.hb_set_target(1, 16 * rig.MIB)
                g.hb_wait_actual(1, 16 * rig.MIB, timeout=30)
                t.check("after system_reset the device works again",
                        not g.hb_info()["broken"])


if __name__ == "__main__":
    vmtest.main("vm_hballoon_bad_input", body)

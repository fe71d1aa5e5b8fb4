"""VM test: guest telemetry through /dev/hballoon and the stats queue.

hbctl submits stats records through HBALLOON_IOC_SUBMIT_STATS; the driver
forwards them on the stats queue and QMP query-hballoon shows the latest
value per (tag, node) with the guest's sequence number.  A second message
inside the device's minimum interval is dropped and counted (the host
rate-limits untrusted telemetry); records the driver must refuse (unknown
tag) never reach the host.
"""

import time

import vmtest
import rig


def records(info):
    return {"%d:%d" % (r["tag"], r["node"]): r["value"]
            for r in info["stats"]["records"]}


def body(t):
    with rig.Guest(t.env, "stats", series=t.series) as g:
        rc, out = g.run("hbctl stats 0:0:111 0:1:222 2:65535:333",
                        check=False)
        t.check("hbctl stats accepted", rc == 0, out)
        st = g.hb_info()["stats"]
        recs = records(g.hb_info())
        t.check("free bytes of node 0 and 1 reached the host",
                recs.get("0:0") == 111 and recs.get("0:1") == 222, recs)
        t.check("VM-wide PSI record reached the host",
                recs.get("2:65535") == 333, recs)
        t.check("host saw a sequence number and a timestamp",
                st["seq"] >= 1 and st["last-update-ms"] > 0, st)
        dropped0 = st["dropped"]
        # Immediately again: inside stats-min-interval-ms (default 1000).
        g.run("hbctl stats 0:0:999", check=False)
        st2 = g.hb_info()["stats"]
        t.check("message inside the minimum interval dropped and counted",
                st2["dropped"] == dropped0 + 1 and
                records(g.hb_info()).get("0:0") == 111, st2)
        time.sleep(1.2)
        g.run("hbctl stats 0:0:444")
        t.check("message after the interval accepted",
                records(g.hb_info()).get("0:0") == 444,
                records(g.hb_info()))
        rc, out = g.run("hbctl stats 4000:0:1", check=False)
        t.check("driver refuses an unknown tag", rc != 0, out)
        t.check("device not broken", not g.hb_info()["broken"])


if __name__ == "__main__":
    vmtest.main("vm_hballoon_stats", body)

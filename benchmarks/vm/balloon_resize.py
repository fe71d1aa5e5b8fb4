"""Benchmark: inflate then deflate 1 GiB with virtio-hballoon vs the stock
virtio-balloon, in the same guest and the same run.

Guest: node 0 (FMEM) 2 GiB, node 1 (SMEM) 1 GiB, both devices present,
hballoon.ko and the stock virtio_balloon driver loaded.  For each device and
each repetition: fault node 0's memory in on the host (so discards free real
memory), then time (host wall clock, QMP polling every 20 ms)
  - inflate: target set -> device reports 1 GiB ballooned
  - deflate: target cleared -> device reports 0
hballoon targets node 0; virtio-balloon is node-blind (its driver takes pages
wherever the guest allocator gives them).  A second, traced pass counts the
host's ram_block_discard_range calls (QEMU trace event) per GiB inflated;
timing passes run with the trace event disabled.

Writes results/balloon_resize.json:
  hballoon.inflate_s / deflate_s          median seconds over repeats
  virtio_balloon.inflate_s / deflate_s    same for the stock device
  *.samples                               every repetition's seconds
  *.discard_calls_per_gib                 ram_block_discard_range calls per
                                          GiB inflated (traced pass)
  hballoon.device_discard_calls_per_gib   the device's own counter (QMP)
  ratio_inflate, ratio_deflate, ratio_total   virtio-balloon time divided by
                                          hballoon time (> 1: hballoon faster)
  accel, kernel, repeats
usage: balloon_resize.py [--repeats N] [--series 6.1|6.12]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                "tests", "vm"))
import rig  # noqa: E402

MIB = rig.MIB
GIB = rig.GIB
TOTAL = 3 * GIB
TRACE_EVENT = "ram_block_discard_range"


def wait(pred, timeout=600.0, poll=0.02):
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise rig.RigError("timed out")
        time.sleep(poll)
    return time.monotonic() - t0


def hb_cycle(g):
    g.hb_set_target(0, GIB)
    inflate = wait(lambda: g.hb_node(0)["actual"] == GIB)
    g.hb_set_target(0, 0)
    deflate = wait(lambda: g.hb_node(0)["actual"] == 0)
    return inflate, deflate


def vb_actual(g):
    return g.qmp.cmd("query-balloon")["actual"]


def vb_cycle(g):
    g.qmp.cmd("balloon", value=TOTAL - GIB)
    inflate = wait(lambda: vb_actual(g) == TOTAL - GIB)
    g.qmp.cmd("balloon", value=TOTAL)
    deflate = wait(lambda: vb_actual(g) == TOTAL)
    return inflate, deflate


def trace_lines(path):
    try:
        with open(path, errors="replace") as f:
            return sum(1 for line in f if TRACE_EVENT in line)
    except FileNotFoundError:
        return 0


def traced(g, trace_path, cycle):
    g.qmp.cmd("trace-event-set-state", name=TRACE_EVENT, enable=True)
    before = trace_lines(trace_path)
    cycle(g)
    g.qmp.cmd("trace-event-set-state", name=TRACE_EVENT, enable=False)
    time.sleep(0.2)
    return trace_lines(trace_path) - before


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--series", default="6.1")
    opts = ap.parse_args()
    env = rig.load_env()
    g = rig.Guest(env, "bench", series=opts.series,
                  nodes_mib=(2048, 1024), virtio_balloon=True)
    trace_path = g.path("trace.log")
    g.extra_args = ["-trace", "enable=%s,file=%s" % (TRACE_EVENT, trace_path)]
    g.start()
    try:
        g.qmp.cmd("trace-event-set-state", name=TRACE_EVENT, enable=False)
        g.run("insmod /lib/modules/virtio_balloon.ko")
        wait(lambda: vb_actual(g) == TOTAL, timeout=60)
        res = {"hballoon": {"samples": []}, "virtio_balloon": {"samples": []}}
        for _ in range(opts.repeats):
            for name, cycle in (("hballoon", hb_cycle),
                                ("virtio_balloon", vb_cycle)):
                g.run("memhog --node 0 --mb 1500 --touch", timeout=600)
                inflate, deflate = cycle(g)
                res[name]["samples"].append(
                    {"inflate_s": round(inflate, 3),
                     "deflate_s": round(deflate, 3)})
                print("%s: inflate %.3fs deflate %.3fs" % (name, inflate,
                                                           deflate),
                      flush=True)
        for name, cycle in (("hballoon", hb_cycle),
                            ("virtio_balloon", vb_cycle)):
            g.run("memhog --node 0 --mb 1500 --touch", timeout=600)
            if name == "hballoon":
                hb_dev0 = g.hb_info()["discard-calls"]
            res[name]["discard_calls_per_gib"] = traced(g, trace_path, cycle)
        # The device's own counter covers the traced pass only.
        res["hballoon"]["device_discard_calls_per_gib"] = \
            g.hb_info()["discard-calls"] - hb_dev0
        for name in ("hballoon", "virtio_balloon"):
            for k in ("inflate_s", "deflate_s"):
                res[name][k] = statistics.median(
                    s[k] for s in res[name]["samples"])
        hb, vb = res["hballoon"], res["virtio_balloon"]
        res["ratio_inflate"] = round(vb["inflate_s"] / hb["inflate_s"], 2)
        res["ratio_deflate"] = round(vb["deflate_s"] / hb["deflate_s"], 2)
        res["ratio_total"] = round((vb["inflate_s"] + vb["deflate_s"]) /
                                   (hb["inflate_s"] + hb["deflate_s"]), 2)
        res["accel"] = "kvm" if env.get("KVM_USABLE") == "1" else "tcg"
        res["kernel"] = opts.series
        res["repeats"] = opts.repeats
        res["bytes"] = GIB
        path = rig.write_result("balloon_resize", res)
        print("ratio inflate %.2f deflate %.2f total %.2f; discard calls/GiB "
              "hballoon %d virtio-balloon %d -> %s" % (
                  res["ratio_inflate"], res["ratio_deflate"],
                  res["ratio_total"], hb["discard_calls_per_gib"],
                  vb["discard_calls_per_gib"], path))
        ok = hb["discard_calls_per_gib"] > 0 and vb["discard_calls_per_gib"] > 0
        print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
        return 0 if ok else 1
    except Exception:
        g.dump_logs()
        raise
    finally:
        g.stop()


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: swapping pages between the FMEM and SMEM nodes of a TCG guest
with one move_pages(2) call (both directions) vs two calls (one per
direction).  Runs benchmarks/vm/exchange_bench.c (built by CMake, passed in
with the rig's overlay) in a guest with node 0 = 512 MiB and node 1 =
1 GiB.

  TIERVM_RIG_ENV=.../rig.env TIERVM_RESULTS_DIR=build/results \\
    python3 benchmarks/vm/exchange_bench.py --binary build/benchmarks/exchange_bench \\
      [--series 6.1 6.12] [--pairs 64,1024,8192] [--pages-per-mode 65536]
      [--numa-balancing N [--numa-scan-now]]

--numa-balancing sets the guest's kernel.numa_balancing for the run
(default 0); --numa-scan-now also starts NUMA balancing's scanner at once
and rescans every 100 ms (debugfs sched/numa_balancing scan_delay_ms = 0,
scan_period_min_ms = 100) instead of after the default 1 s delay.  With
1 and --numa-scan-now, 6.1 fails most moves with ENOENT (see
benchmarks/README.md, "6.1 and NUMA balancing").

results/exchange_bench.json:
  accel            "tcg" or "kvm"
  pages_per_mode   pages moved per mode and pair count (both directions)
  runs[]           one per (kernel, pairs):
    kernel, pairs, reps                      series, pair count, repetitions per mode
    one_call_swaps_per_s, two_calls_swaps_per_s   pairs swapped per second
    ratio            one_call / two_calls (> 1: one call is faster)
    one_call_s, two_calls_s                  total seconds per mode
    one_call_failed, two_calls_failed        pages not on their destination
                     after a call of that mode (moved by the next repetition)
    busy, not_present, other_failed          failures by status: EBUSY/EAGAIN
                     (transient), ENOENT (not present), anything else
                     (must be 0; first_error names it)
    numa_balancing_default   the guest's kernel.numa_balancing before the
                     benchmark set it (to 0, or --numa-balancing).
    numa_balancing, numa_scan_now   what the run used
    numa_pte_updates  /proc/vmstat delta over the program: page-table
                     entries NUMA balancing's scanner made PROT_NONE (6.1's
                     move_pages reads pages behind them as not present)
  ratio_median     median ratio over all runs
Exit status 1 if the program failed or a page failed other than
EBUSY/EAGAIN/ENOENT.
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "vm"))
import rig  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--series", nargs="+", default=["6.1", "6.12"])
    ap.add_argument("--pairs", default="64,1024,8192")
    ap.add_argument("--pages-per-mode", type=int, default=65536)
    ap.add_argument("--numa-balancing", type=int, choices=(0, 1, 2, 3),
                    default=0)
    ap.add_argument("--numa-scan-now", action="store_true")
    args = ap.parse_args()
    env = rig.load_env()
    runs = []
    ok = True
    for series in args.series:
        with rig.Guest(env, "xbench", series=series, nodes_mib=(512, 1024),
                       overlay={"/bin/exchange_bench": args.binary}) as g:
            nb = g.run("cat /proc/sys/kernel/numa_balancing").strip()
            if args.numa_scan_now:
                knobs = "/sys/kernel/debug/sched/numa_balancing"
                g.run("mount -t debugfs none /sys/kernel/debug 2>/dev/null; "
                      "echo 0 > %s/scan_delay_ms && "
                      "echo 100 > %s/scan_period_min_ms" % (knobs, knobs))
            g.run("echo %d > /proc/sys/kernel/numa_balancing" %
                  args.numa_balancing)
            pte0 = g.vmstat().get("numa_pte_updates", 0)
            rc, out = g.run("exchange_bench --pairs %s --pages-per-mode %d" %
                            (args.pairs, args.pages_per_mode),
                            timeout=1200, check=False)
            pte1 = g.vmstat().get("numa_pte_updates", 0)
            print(out, flush=True)
            if rc != 0:
                ok = False
            for line in out.splitlines():
                line = line.strip()
                if line.startswith("{"):
                    r = json.loads(line)
                    r["kernel"] = series
                    r["numa_balancing_default"] = int(nb)
                    r["numa_balancing"] = args.numa_balancing
                    r["numa_scan_now"] = args.numa_scan_now
                    r["numa_pte_updates"] = pte1 - pte0
                    ok = ok and r["other_failed"] == 0
                    runs.append(r)
    if not runs:
        ok = False
    res = {
        "accel": "kvm" if env.get("KVM_USABLE") == "1" else "tcg",
        "pages_per_mode": args.pages_per_mode,
        "runs": runs,
        "ratio_median": statistics.median(r["ratio"] for r in runs)
        if runs else None,
        "passed": ok,
    }
    print("wrote", rig.write_result("exchange_bench", res))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

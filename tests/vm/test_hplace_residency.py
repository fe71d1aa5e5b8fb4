"""VM test: hplaced moves a hot set from SMEM to FMEM, and again when it moves.

Guest: node 0 FMEM 512 MiB, node 1 SMEM 1 GiB, TCG.  The workload
(tests/vm/hplace/hotset.c) places two 64 MiB regions on SMEM, fills FMEM
with cold data until less than 56 MiB is free, then hammers region 1 for
PHASE_S seconds (phase 1) and region 2 for PHASE_S seconds (phase 2),
printing the hot region's residency every 0.5 s of guest time.

Runs twice in one guest: first without hplaced (baseline), then with
hplaced (accessed-bit source through hballoon.ko; hplaced is started before
the workload, as a daemon would be).  Automatic NUMA balancing is off
(kernel.numa_balancing = 0) for both runs so that only hplaced moves
pages: the test turns it off for the baseline; for the second run it puts
the kernel's default back and hplaced turns it off itself (its default,
daemon.numa_balancing = "off") and restores it at exit, which is checked.

Checks (the issue's bar):
  * with hplaced, >= 90 % of the hot region on node 0 within 20 s of guest
    time after each phase starts;
  * without hplaced, < 10 % at every sample;
  * migrations per promoted page <= 2.0, counted by hplaced (promoted +
    demoted) / promoted; the kernel's view (/proc/vmstat pgmigrate_success
    delta / promoted, which includes compaction) is reported next to it;
  * hplaced exits cleanly on SIGTERM and reports no errors.

Result: results/hplace_residency.json, one entry per kernel (the file is
read, updated and rewritten, so the 6.1 and 6.12 tests fill one file);
fields in guest-driver/daemon/README.md ("hplace_residency.json").  The
harness's own result goes to results/vm_hplace_residency[_6_12].json.
"""

import json
import os
import re
import time

import rig
import vmtest

PHASE_S = 40
PHASES = 2
HOT_MIB = 64
TARGET_FRACTION = 0.90
TARGET_S = 20.0
BASELINE_MAX = 0.10
MAX_MIGRATIONS_PER_PROMOTION = 2.0
# hplaced's CPU budget in this test, % of one vCPU.  It covers all of
# hplaced's CPU (and the test checks that against /proc/PID/stat).  The
# default (1 %) is for real hardware.  Under TCG every guest-kernel
# operation hplaced pays for (scan ioctls waiting for TLB-flush IPIs, page
# copies, /proc reads) runs 10-50x slower, and its fixed overhead alone
# (process refresh, telemetry) is ~0.7 % of a vCPU here.  Measured at 1 %:
# phase 1 within 20 s on 6.12 only, phase 2 on neither kernel (placement
# starved); at 2 %: 6.5-8 s / 3.5-4 s on both.  Hence 2 % under TCG.
TCG_BUDGET_PCT = 2
# hplaced's bucket (budget.burst_s) and start-up wait before measuring.
BURST_S = 30.0
STARTUP_S = 3
# Slack in the CPU check: one move_pages batch past the allowance (the
# executor checks between batches) and the process-stat tick granularity.
SLACK_S = 0.25



def parse_series(out):
    series, ready = [], None
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if "ready" in r:
            ready = r
        else:
            series.append({"t_s": r["t_s"], "phase": r["phase"],
                           "node0": r["node0"], "node1": r["node1"],
                           "other": r["other"], "mops": r["mops"]})
    return ready, series


def time_to_fraction(series, phase, fraction):
    start = (phase - 1) * PHASE_S
    for s in series:
        if s["phase"] != phase:
            continue
        total = s["node0"] + s["node1"] + s["other"]
        if total and s["node0"] / total >= fraction:
            return round(s["t_s"] - start, 3)
    return None


def cpu_ticks(g, pid):
    stat = g.run("cat /proc/%d/stat" % pid)
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def uptime(g):
    return float(g.run("cat /proc/uptime").split()[0])


def run_workload(g, log):
    cmd = ("hotset --hot-mib %d --phase-s %d --phases %d --report-ms 500 "
           "> %s 2>&1; echo rc=$?" % (HOT_MIB, PHASE_S, PHASES, log))
    out = g.run(cmd, timeout=PHASE_S * PHASES + 600)
    rc = int(re.search(r"rc=(\d+)", out).group(1))
    text = g.run("cat " + log)
    return rc, text


def body(t):
    hplaced = os.environ.get("HPLACED_BIN")
    hotset = os.environ.get("HOTSET_BIN")
    if not hplaced or not hotset:
        raise rig.RigError("HPLACED_BIN and HOTSET_BIN must name the built "
                           "programs (ctest sets them)")
    entry = {"kernel": t.series, "phase_s": PHASE_S, "hot_mib": HOT_MIB}
    with rig.Guest(t.env, "hplace", series=t.series, nodes_mib=(512, 1024),
                   overlay={"/bin/hplaced": hplaced,
                            "/bin/hotset": hotset}) as g:
        rc, nb = g.run("cat /proc/sys/kernel/numa_balancing", check=False)
        entry["numa_balancing_default"] = nb.strip() if rc == 0 else None
        if rc == 0:
            g.run("echo 0 > /proc/sys/kernel/numa_balancing")
        rc, thp = g.run("cat /sys/kernel/mm/transparent_hugepage/enabled",
                        check=False)
        entry["thp_enabled"] = thp.strip() if rc == 0 else None

        # -- baseline: no hplaced -------------------------------------------
        v0 = g.vmstat()
        rc, out = run_workload(g, "/tmp/base.log")
        v1 = g.vmstat()
        t.check("baseline workload ran", rc == 0, out[-500:])
        ready, base = parse_series(out)
        t.check("baseline: cold fill left < 64 MiB free on node 0",
                ready is not None and ready["fmem_free_mib"] < HOT_MIB, ready)
        worst = max((s["node0"] / max(1, s["node0"] + s["node1"] + s["other"])
                     for s in base), default=None)
        entry["baseline"] = {
            "series": base, "ready": ready,
            "max_node0_fraction": worst,
            "pgmigrate_success": v1.get("pgmigrate_success", 0) -
            v0.get("pgmigrate_success", 0),
        }
        t.check("baseline: hot region stays < 10 % on FMEM without hplaced",
                worst is not None and worst < BASELINE_MAX, worst, BASELINE_MAX)
        # Let the kernel hand the exited workload's pages back.
        g.settled_free_bytes(0)

        # -- with hplaced ------------------------------------------------------
        budget = 1.0 if t.env.get("KVM_USABLE") == "1" else TCG_BUDGET_PCT
        budget = float(os.environ.get("TIERVM_HPLACE_BUDGET_PCT", budget))
        entry["budget_pct"] = budget
        entry["burst_s"] = BURST_S
        g.run("printf '[budget]\\nbudget_pct = %g\\nburst_s = %g\\n' "
              "> /tmp/hplaced.toml" % (budget, BURST_S))
        # hplaced turns NUMA balancing off itself (daemon.numa_balancing =
        # "off", the default) and puts it back at exit: give it the
        # kernel's default to find.
        nb_default = entry["numa_balancing_default"]
        if nb_default is not None:
            g.run("echo %s > /proc/sys/kernel/numa_balancing" % nb_default)
        g.run("hplaced --config=/tmp/hplaced.toml --status-file=/tmp/hplaced.json "
              "--log-level=%s > /tmp/hplaced.out 2> /tmp/hplaced.err & "
              "echo $! > /tmp/hplaced.pid" %
              os.environ.get("TIERVM_HPLACE_LOG_LEVEL", "info"))
        pid = int(g.run("cat /tmp/hplaced.pid"))
        time.sleep(STARTUP_S)
        rc, err = g.run("cat /tmp/hplaced.err", check=False)
        t.check("hplaced started", g.run("kill -0 %d; echo $?" % pid) == "0",
                err[-800:])
        v0 = g.vmstat()
        up0, cpu0 = uptime(g), cpu_ticks(g, pid)
        st0 = json.loads(g.run("cat /tmp/hplaced.json"))
        nb_running = g.run("cat /proc/sys/kernel/numa_balancing",
                           check=False)[1].strip()
        rc, out = run_workload(g, "/tmp/run.log")
        up1, cpu1 = uptime(g), cpu_ticks(g, pid)
        v1 = g.vmstat()
        st1 = json.loads(g.run("cat /tmp/hplaced.json"))
        g.run("kill -TERM %d" % pid)
        for _ in range(50):
            if g.run("kill -0 %d 2>/dev/null; echo $?" % pid) != "0":
                break
            time.sleep(0.2)
        else:
            t.check("hplaced exits on SIGTERM", False)
        err = g.run("cat /tmp/hplaced.err")
        # hplaced's log, for reading after a failure (not parsed).
        with open(os.path.join(rig.results_dir(), "hplace_residency_%s.log" %
                               t.series), "w") as f:
            f.write(err)
        final = g.run("cat /tmp/hplaced.out").strip().splitlines()
        nb_after = g.run("cat /proc/sys/kernel/numa_balancing",
                         check=False)[1].strip()
        t.check("workload ran under hplaced", rc == 0, out[-500:])
        ready, series = parse_series(out)
        t.check("cold fill left < 64 MiB free on node 0",
                ready is not None and ready["fmem_free_mib"] < HOT_MIB, ready)

    clk_tck = 100
    promoted = st1["promoted_pages"] - st0["promoted_pages"]
    demoted = st1["demoted_pages"] - st0["demoted_pages"]
    kernel_migrations = v1.get("pgmigrate_success", 0) - \
        v0.get("pgmigrate_success", 0)
    entry.update({
        "series": series,
        "ready": ready,
        "time_to_90_s": {str(p): time_to_fraction(series, p, TARGET_FRACTION)
                         for p in range(1, PHASES + 1)},
        "promoted_pages": promoted,
        "demoted_pages": demoted,
        "migrations_per_promotion": (promoted + demoted) / promoted
        if promoted else None,
        "pgmigrate_success": kernel_migrations,
        "numa_pages_migrated": v1.get("numa_pages_migrated", 0) -
        v0.get("numa_pages_migrated", 0),
        "kernel_migrations_per_promotion": kernel_migrations / promoted
        if promoted else None,
        "vmstat_delta": {k: v1[k] - v0.get(k, 0) for k in sorted(v1)
                         if k.startswith(("pgmigrate", "compact_",
                                          "thp_migration", "numa_"))},
        "hplaced_cpu_s": (cpu1 - cpu0) / clk_tck,
        "wall_s": up1 - up0,
        "hplaced_cpu_fraction": ((cpu1 - cpu0) / clk_tck) / (up1 - up0),
        # What the budget allows over the measured stretch: the budget
        # times the time since hplaced started (it began STARTUP_S before
        # the stretch) plus the bucket it may burst from, plus one
        # move_pages batch and one tick of slack.
        "hplaced_cpu_allowed_s": budget / 100.0 *
        (up1 - up0 + STARTUP_S + BURST_S) + SLACK_S,
        "hplaced_status": st1,
        "hplaced_final_line": final[-1] if final else None,
    })
    for p in range(1, PHASES + 1):
        ttf = entry["time_to_90_s"][str(p)]
        t.check("phase %d: >= 90 %% of the hot region on FMEM within %g s" %
                (p, TARGET_S), ttf is not None and ttf <= TARGET_S, ttf,
                TARGET_S)
    t.check("migrations per promotion (hplaced counters) <= 2.0",
            entry["migrations_per_promotion"] is not None and
            entry["migrations_per_promotion"] <= MAX_MIGRATIONS_PER_PROMOTION,
            entry["migrations_per_promotion"], MAX_MIGRATIONS_PER_PROMOTION)
    # The kernel's pgmigrate_success also counts migrations hplaced did not
    # ask for (compaction making 2 MiB blocks for THPs: see vmstat_delta),
    # so it is reported, not held to the bar.
    t.check("hplaced stayed within its CPU budget (all of its CPU, "
            "from /proc/PID/stat)",
            entry["hplaced_cpu_s"] <= entry["hplaced_cpu_allowed_s"],
            entry["hplaced_cpu_s"], entry["hplaced_cpu_allowed_s"])
    entry["numa_balancing"] = {"default": nb_default,
                               "while_hplaced_ran": nb_running,
                               "after_hplaced_exited": nb_after,
                               "hplaced_found": st0.get("numa_balancing_before")}
    if nb_default is not None:
        t.check("hplaced found kernel.numa_balancing at the default",
                str(st0.get("numa_balancing_before")) == nb_default,
                st0.get("numa_balancing_before"), nb_default)
        t.check("kernel.numa_balancing is 0 while hplaced runs",
                nb_running == "0", nb_running)
        t.check("hplaced restored kernel.numa_balancing at exit",
                nb_after == nb_default, nb_after, nb_default)
    t.check("hplaced located pages with hballoon.ko",
            st1.get("locator") == "hballoon", st1.get("locator"))
    t.check("hplaced reported no errors", st1["errors"] == 0,
            st1.get("last_error"))
    t.check("hplaced used the accessed-bit source", st1["samples"] > 0 and
            "source abit" in err, err[:400])
    for k in ("migrations_per_promotion", "kernel_migrations_per_promotion",
              "hplaced_cpu_fraction", "hplaced_cpu_s",
              "hplaced_cpu_allowed_s"):
        t.figure(k, entry[k])
    for p in range(1, PHASES + 1):
        t.figure("time_to_90_s_phase%d" % p, entry["time_to_90_s"][str(p)])

    path = os.path.join(rig.results_dir(), "hplace_residency.json")
    try:
        with open(path) as f:
            res = json.load(f)
    except (OSError, ValueError):
        res = {}
    res.setdefault("kernels", {})[t.series] = entry
    res["accel"] = "kvm" if t.env.get("KVM_USABLE") == "1" else "tcg"
    rig.write_result("hplace_residency", res)


if __name__ == "__main__":
    vmtest.main("vm_hplace_residency", body)

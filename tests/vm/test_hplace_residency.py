"""VM test: hplaced at its shipped defaults moves a hot set from SMEM to
FMEM, and again when it moves, for THP and 4 KiB pages; on 6.12 side by
side with Linux's own tiering.  The whole CPU cost of tiering is reported
for every policy.

Guest: node 0 FMEM 512 MiB, node 1 SMEM 1 GiB, TCG, HMAT entries giving
node 1 three times node 0's latency (rig.Guest(hmat=True); 6.12 then puts
node 1 in a lower memory tier, 6.1 keeps one tier).  The workload
(tests/vm/hplace/hotset.c) places two 64 MiB regions on SMEM, fills FMEM
with cold data until less than 56 MiB is free, then hammers region 1 for
PHASE_S seconds (phase 1) and region 2 for PHASE_S seconds (phase 2),
printing the hot region's residency every 0.5 s of guest time.

Runs, one after the other in one guest, each a fresh hotset process, in
the order thp/none, thp/hplaced, 4k/none, 4k/hplaced, 4k/numa_balancing_2:
  thp/none, 4k/none     no mover: kernel.numa_balancing = 0, demotion off
  thp/hplaced, 4k/hplaced
                        hplaced with no options but --status-file and
                        --log-level: no config file, no --budget-pct (the
                        shipped defaults), launched right before hotset in
                        the same guest command (no head start).  It finds
                        kernel.numa_balancing at the kernel's default,
                        turns it off (daemon.numa_balancing = "off") and
                        restores it at exit.
  4k/numa_balancing_2   6.12 only: the kernel's own tiering,
                        kernel.numa_balancing = 2 (promotion on hint
                        faults) + /sys/kernel/mm/numa/demotion_enabled = 1
                        (demotion in reclaim), turned on right before
                        hotset.  Needs node 1 in a lower memory tier than
                        node 0 (/sys/devices/virtual/memory_tiering); the
                        test fails with the tiers it found otherwise.
"thp" runs hotset --thp 1 (MADV_HUGEPAGE), "4k" --thp 0
(MADV_NOHUGEPAGE).

Checks:
  * hplaced, each page size: >= 90 % of the hot region on node 0 within
    20 s of guest time after each phase starts; migrations per promotion
    <= 2.0 (hplaced's promoted + demoted / promoted); it ran through the
    workload, found kernel.numa_balancing at the default, it read 0 while
    hplaced ran and the default again after it exited; pages located with
    hballoon.ko; the accessed-bit source used; no errors; exit status 0 on
    SIGTERM;
  * no mover, each page size: < 10 % on node 0 at every sample;
  * 6.12: node 1 in a lower memory tier; the kernel's tiering engaged
    (numa_hint_faults > 0 and pgpromote_success > 0).
Reported with a `met`/`no_worse` verdict but not yet asserted (the goals
of issue 11 that hplaced does not meet yet): fixed_overhead_pct <= 20 % of
budget_pct, and hplaced's time to 90 % (4 KiB) no worse than the kernel's
in each phase (a phase the kernel never reaches counts as no worse).
CPU is reported, not asserted.

The whole CPU cost of tiering, per run, from guest snapshots (rig.py
CPU_SNAPSHOT_SH: /proc/uptime, /proc/stat, /proc/vmstat, /proc/PID/stat of
every process) taken right before the run starts (s0), when hotset
prints "ready", i.e. phase 1 starts (s1), and after hotset exits (s2):
  hplaced_s     hplaced's utime + stime at s2 (it started after s0)
  kthreads_s    deltas s0->s2 of kswapd*, kcompactd*, kdamond*, khugepaged
                (kernel threads found by name in /proc/*/stat)
  faults_s      numa_hint_faults delta s0->s2 x fault_cost_ns.  NUMA
                balancing's work runs in the faulting task's context, so
                its cost per hint fault is measured as the workload's
                extra system time: hotset's stime from s1 to its last read
                before exit (polled every 0.25 s) in the 4k/numa_balancing_2
                run minus the same in the 4k/none run, divided by the
                numa_hint_faults delta over that stretch (null, with
                the reason in fault_cost.method, when that difference is
                not positive: host load can swing it).  It includes the
                PTE scanning that armed the faults (task_numa_work) and the
                promotions made in them.  Measured on 6.12 only (6.1 has no
                numa_balancing=2 run; its runs take no hint faults).
  tiering_cpu_s hplaced_s + sum(kthreads_s) + faults_s
Also reported: the guest's /proc/stat deltas s0->s2 (system time of the
whole guest, and busy = all but idle and iowait), kworker time, and the
workload's own user/system time.

Result: results/hplace_residency.json, one entry per kernel (the file is
read, updated and rewritten, so the 6.1 and 6.12 tests fill one file):
  {"accel", "kernels": {"6.1": K, "6.12": K}}
  K: kernel, phase_s, phases, hot_mib, report_ms, thp_enabled,
     numa_balancing_default, memory_tiers ({node: tier}),
     hplaced_args, fault_cost {fault_cost_ns, method, hint_faults,
     extra_stime_s}, variants, tiering_cpu, kernel_vs_hplaced_4k (6.12)
  variants: {"thp": R, "4k": R, "kernel_nb2": R (6.12)}: the mover's run
     (hplaced, or the kernel's tiering for kernel_nb2); "thp" and "4k"
     hold their no-mover run as R["baseline"]
  R: policy ("none", "hplaced", "numa_balancing_2"), thp (0/1), ready
     {cold_mib, fmem_free_mib}, series [{t_s, phase, node0, node1, other,
     mops}], time_to_90_s {"1", "2"} (seconds from the phase's start to the
     first sample with >= 90 % on node 0; null: never), max_node0_fraction,
     run_s (guest seconds s0->s2), phases_s (s1->s2), promoted_pages,
     demoted_pages, migrations_per_promotion ((promoted + demoted) /
     promoted: hplaced's counters for hplaced; /proc/vmstat
     pgpromote_success and pgdemote_kswapd + _direct + _khugepaged for the
     kernel), pgmigrate_per_promotion (/proc/vmstat pgmigrate_success /
     promoted, includes compaction), vmstat_delta (s0->s2: pgmigrate_*,
     pgpromote_*, pgdemote_*, numa_*, compact_*, thp_migration_*,
     thp_split_*, pgscan_*, pgsteal_*), cpu {hplaced_s, hplaced_fraction
     (of one vCPU over run_s), kthreads_s {comm: s}, kthreads_total_s,
     numa_hint_faults, fault_cost_ns, faults_s, tiering_cpu_s, guest_cpu_s
     {user, nice, system, idle, iowait, irq, softirq, steal, busy},
     kworkers_s, workload_utime_s, workload_stime_s (whole run),
     workload_phase_stime_s (s1 -> last read), workload_extra_stime_s
     (workload_phase_stime_s minus the same page size's no-mover run)};
     hplaced runs also: hplaced_status (status JSON at the end of the
     workload), hplaced_final_status (what it printed at exit),
     fixed_overhead {fixed_overhead_pct, budget_pct, cpu_fixed_ns, limit_pct}
     or "not reported", numa_balancing {default, hplaced_found,
     while_hplaced_ran, after_hplaced_exited}, exit_status; the kernel's
     run also: tiering (what was set).
  tiering_cpu: {"thp": {"none", "hplaced"}, "4k": {"none", "hplaced",
     "numa_balancing_2"}}: {hplaced_s, kthreads_total_s, faults_s,
     tiering_cpu_s, guest_system_s, guest_busy_s} per policy, side by side
  kernel_vs_hplaced_4k: {time_to_90_s {"1": {hplaced, kernel}, "2": ..},
     migrations_per_promotion {hplaced, kernel}, tiering_cpu_s {none,
     hplaced, kernel}}
The harness's own result goes to results/vm_hplace_residency[_6_12].json;
hplaced's log of each run to results/hplace_residency_<kernel>_<variant>.log.
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
REPORT_MS = 500
TARGET_FRACTION = 0.90
TARGET_S = 20.0
BASELINE_MAX = 0.10
MAX_MIGRATIONS_PER_PROMOTION = 2.0
# The status JSON's fixed overhead (refresh, epochs, telemetry, status file)
# is held to at most this share of hplaced's budget when it is reported.
FIXED_OVERHEAD_MAX_SHARE = 0.20
VMSTAT_PREFIXES = ("pgmigrate", "pgpromote", "pgdemote", "numa_", "compact_",
                   "thp_migration", "thp_split", "pgscan", "pgsteal")
DEMOTE_KEYS = ("pgdemote_kswapd", "pgdemote_direct", "pgdemote_khugepaged")
FAULT_COST_METHOD = (
    "extra system time of the workload per NUMA hint fault: hotset's stime "
    "(/proc/PID/stat) from phase 1's start to its last read before exit in "
    "the 4k numa_balancing=2 run, minus the same in the 4k run without "
    "tiering, divided by the numa_hint_faults delta over that stretch; it "
    "includes the PTE scanning that armed the faults (task_numa_work, in the "
    "task's context) and the promotions made in them")


def no_worse(hp, kernel):
    """hplaced's time to 90 % against the kernel's; never is infinitely
    late, so reaching it when the kernel never does is no worse."""
    inf = float("inf")
    return (inf if hp is None else hp) <= (inf if kernel is None else kernel)


def snap_to(path):
    return "{ %s; } > %s" % (rig.CPU_SNAPSHOT_SH, path)


def run_workload(g, tag, thp, with_hplaced):
    """One guest command: snapshot s0, [hplaced &], hotset & ; snapshot s1
    when hotset is ready (phase 1 starts); hotset's /proc/PID/stat every
    0.25 s until it exits; snapshot s2.  Returns the raw pieces."""
    p = "/tmp/%s" % tag
    hotset = ("hotset --hot-mib %d --phase-s %d --phases %d --report-ms %d "
              "--thp %d > %s.log 2>&1 & w=$!; echo $w > %s.wpid" %
              (HOT_MIB, PHASE_S, PHASES, REPORT_MS, thp, p, p))
    if with_hplaced:
        # Started right before hotset, in the background; the subshell
        # waits for hplaced to keep its exit status.
        hotset = ("(hplaced %s > /tmp/hplaced.out 2> /tmp/hplaced.err & "
                  "echo $! > /tmp/hplaced.pid; wait $!; "
                  "echo $? > /tmp/hplaced.rc) & %s" %
                  (" ".join(hplaced_args()), hotset))
    parts = [
        "rm -f /tmp/hplaced.*",
        snap_to(p + ".s0"),
        hotset,
        # A hotset that died is a zombie or gone: stop waiting then.
        "while ! grep -q ready %s.log && grep -qv ') Z ' /proc/$w/stat "
        "2>/dev/null; do sleep 0.1; done" % p,
        snap_to(p + ".s1"),
        "while cat /proc/$w/stat > %s.wt 2>/dev/null && grep -qv ') Z ' "
        "%s.wt; do mv %s.wt %s.ws; sleep 0.25; done" % (p, p, p, p),
        "wait $w; rc=$?",
        snap_to(p + ".s2"),
        "cat /proc/sys/kernel/numa_balancing > %s.nb" % p,
        "echo rc=$rc"]
    out = g.run("; ".join(parts), timeout=PHASE_S * PHASES + 600)
    raw = {"rc": int(re.search(r"rc=(\d+)", out).group(1))}
    for k in ("log", "s0", "s1", "s2", "ws", "wpid", "nb"):
        raw[k] = g.run("cat %s.%s" % (p, k), check=False)[1]
    return raw


def hplaced_args():
    return ["--status-file=/tmp/hplaced.json", "--log-level=%s" %
            os.environ.get("TIERVM_HPLACE_LOG_LEVEL", "info")]


def stop_hplaced(g, t, name):
    """Status while running, numa_balancing while running, then SIGTERM
    and the exit status, log and final status."""
    pid = int(g.run("cat /tmp/hplaced.pid"))
    h = {"pid": pid,
         "alive": g.run("kill -0 %d 2>/dev/null; echo $?" % pid) == "0"}
    rc, st = g.run("cat /tmp/hplaced.json", check=False)
    try:
        h["status"] = json.loads(st) if rc == 0 else None
    except ValueError:
        h["status"] = None
    g.run("kill -TERM %d" % pid, check=False)
    h["exit_status"] = None
    for _ in range(100):
        rc, code = g.run("cat /tmp/hplaced.rc", check=False)
        if rc == 0 and code.strip().isdigit():
            h["exit_status"] = int(code)
            break
        time.sleep(0.2)
    h["err"] = g.run("cat /tmp/hplaced.err", check=False)[1]
    with open(os.path.join(rig.results_dir(), "hplace_residency_%s_%s.log" %
                           (t.series, name)), "w") as f:
        f.write(h["err"])
    final = g.run("cat /tmp/hplaced.out", check=False)[1].strip().splitlines()
    try:
        h["final"] = json.loads(final[-1]) if final else None
    except ValueError:
        h["final"] = final[-1]
    h["nb_after"] = g.run("cat /proc/sys/kernel/numa_balancing",
                          check=False)[1].strip()
    return h


def summarize(raw, policy, thp):
    """The run's record R (see the module docstring), without the parts
    that need other runs (fault cost, extra workload time)."""
    series, ready, _, _ = rig.parse_hotset(raw["log"])
    s0, s1, s2 = (rig.parse_cpu_snapshot(raw[k]) for k in ("s0", "s1", "s2"))
    wpid = int(raw["wpid"]) if raw["wpid"].strip().isdigit() else None
    w1 = s1["procs"].get(wpid)
    wend = rig.parse_pid_stat(raw["ws"].strip())
    v0, v2 = s0["vmstat"], s2["vmstat"]
    vd = {k: v2[k] - v0.get(k, 0) for k in sorted(v2)
          if k.startswith(VMSTAT_PREFIXES)}
    kt = rig.kthread_cpu_s(s0, s2)
    kw = rig.kthread_cpu_s(s0, s2, ("kworker",))
    run_s = s2["uptime"] - s0["uptime"]
    r = {
        "policy": policy, "thp": thp, "ready": ready, "series": series,
        "time_to_90_s": {str(p): rig.time_to_fraction(series, p, PHASE_S,
                                                         TARGET_FRACTION)
                         for p in range(1, PHASES + 1)},
        "max_node0_fraction": max((rig.hot_fraction(s) for s in series),
                                  default=None),
        "run_s": round(run_s, 2),
        "phases_s": round(s2["uptime"] - s1["uptime"], 2)
        if s1["uptime"] is not None else None,
        "vmstat_delta": vd,
        "snapshots_complete": all(s["complete"] for s in (s0, s1, s2)),
    }
    cpu = {
        "hplaced_s": 0.0,
        "kthreads_s": kt,
        "kthreads_total_s": round(sum(kt.values()), 2),
        "kworkers_s": round(sum(kw.values()), 2),
        "numa_hint_faults": vd.get("numa_hint_faults", 0),
        "phase_hint_faults": s2["vmstat"].get("numa_hint_faults", 0) -
        s1["vmstat"].get("numa_hint_faults", 0),
        "guest_cpu_s": rig.guest_cpu_s(s0, s2),
        "workload_utime_s": wend["utime"] / rig.USER_HZ if wend else None,
        "workload_stime_s": wend["stime"] / rig.USER_HZ if wend else None,
        "workload_phase_stime_s": round((wend["stime"] - w1["stime"]) /
                                        rig.USER_HZ, 2)
        if wend and w1 else None,
    }
    r["cpu"] = cpu
    if policy == "numa_balancing_2":
        promoted = vd.get("pgpromote_success", 0)
        demoted = sum(vd.get(k, 0) for k in DEMOTE_KEYS)
        r.update(promoted_pages=promoted, demoted_pages=demoted)
    else:
        r.update(promoted_pages=0, demoted_pages=0)
    r["_s1"], r["_s2"] = s1, s2
    return r


def set_migrations(r):
    p, d = r["promoted_pages"], r["demoted_pages"]
    r["migrations_per_promotion"] = round((p + d) / p, 3) if p else None
    r["pgmigrate_per_promotion"] = round(
        r["vmstat_delta"].get("pgmigrate_success", 0) / p, 3) if p else None


def add_hplaced(r, h, t, name, nb_default, nb_running):
    """hplaced's fields and checks for run r."""
    # The status printed at exit is the last word (the status file is
    # rewritten every 5 s); the one read while running is the fallback.
    st = h["final"] if isinstance(h["final"], dict) else (h["status"] or {})
    s2 = r["_s2"]
    hp = s2["procs"].get(h["pid"])
    r["cpu"]["hplaced_s"] = rig.proc_cpu_s(hp) if hp else None
    r["cpu"]["hplaced_fraction"] = round(r["cpu"]["hplaced_s"] / r["run_s"],
                                         4) if hp and r["run_s"] else None
    r["promoted_pages"] = st.get("promoted_pages", 0)
    r["demoted_pages"] = st.get("demoted_pages", 0)
    r["hplaced_status"] = h["status"]
    r["hplaced_final_status"] = h["final"]
    r["exit_status"] = h["exit_status"]
    r["numa_balancing"] = {"default": nb_default,
                           "hplaced_found": st.get("numa_balancing_before"),
                           "while_hplaced_ran": nb_running,
                           "after_hplaced_exited": h["nb_after"]}
    if "fixed_overhead_pct" in st and "budget_pct" in st:
        r["fixed_overhead"] = {
            "fixed_overhead_pct": st["fixed_overhead_pct"],
            "budget_pct": st["budget_pct"],
            "cpu_fixed_ns": st.get("cpu_fixed_ns"),
            "limit_pct": FIXED_OVERHEAD_MAX_SHARE * st["budget_pct"]}
    else:
        r["fixed_overhead"] = "not reported"
    set_migrations(r)

    pre = "%s/hplaced: " % name
    t.check(pre + "ran through the workload", h["alive"], h["err"][-800:])
    for p in range(1, PHASES + 1):
        ttf = r["time_to_90_s"][str(p)]
        t.check(pre + "phase %d: >= 90 %% of the hot region on FMEM within "
                "%g s" % (p, TARGET_S), ttf is not None and ttf <= TARGET_S,
                ttf, TARGET_S)
    mpp = r["migrations_per_promotion"]
    t.check(pre + "migrations per promotion (hplaced counters) <= 2.0",
            mpp is not None and mpp <= MAX_MIGRATIONS_PER_PROMOTION, mpp,
            MAX_MIGRATIONS_PER_PROMOTION)
    fo = r["fixed_overhead"]
    if isinstance(fo, dict):
        # Reported, not yet held: under TCG hplaced's fixed overhead is
        # 0.5-0.9 % of a vCPU against the 0.2 % goal (issue 11 stays open
        # on it); `met` says where it stands.
        fo["met"] = fo["fixed_overhead_pct"] <= fo["limit_pct"]
        t.figure(pre.strip(": ").replace(" ", "_") + "_fixed_overhead_pct",
                 fo["fixed_overhead_pct"])
    if nb_default is not None:
        t.check(pre + "found kernel.numa_balancing at the default",
                str(st.get("numa_balancing_before")) == nb_default,
                st.get("numa_balancing_before"), nb_default)
        t.check(pre + "kernel.numa_balancing is 0 while hplaced runs",
                nb_running == "0", nb_running)
        t.check(pre + "restored kernel.numa_balancing at exit",
                h["nb_after"] == nb_default, h["nb_after"], nb_default)
    t.check(pre + "located pages with hballoon.ko",
            st.get("locator") == "hballoon", st.get("locator"))
    t.check(pre + "reported no errors", st.get("errors") == 0,
            st.get("last_error"))
    t.check(pre + "used the accessed-bit source",
            st.get("samples", 0) > 0 and "source abit" in h["err"],
            h["err"][:400])
    t.check(pre + "exited with status 0 on SIGTERM", h["exit_status"] == 0,
            h["exit_status"])


def finish_cpu(r, fault_cost_ns, baseline):
    c = r["cpu"]
    faults = c["numa_hint_faults"]
    c["fault_cost_ns"] = fault_cost_ns
    if not faults:
        c["faults_s"] = 0.0
    elif fault_cost_ns is None:
        c["faults_s"] = None
    else:
        c["faults_s"] = round(faults * fault_cost_ns / 1e9, 2)
    parts = (c["hplaced_s"], c["kthreads_total_s"], c["faults_s"])
    c["tiering_cpu_s"] = round(sum(parts), 2) \
        if all(x is not None for x in parts) else None
    b = baseline["cpu"]["workload_phase_stime_s"] if baseline else None
    c["workload_extra_stime_s"] = round(c["workload_phase_stime_s"] - b, 2) \
        if b is not None and c["workload_phase_stime_s"] is not None else None


def cpu_row(r):
    c = r["cpu"]
    return {"hplaced_s": c["hplaced_s"],
            "kthreads_total_s": c["kthreads_total_s"],
            "faults_s": c["faults_s"], "tiering_cpu_s": c["tiering_cpu_s"],
            "guest_system_s": c["guest_cpu_s"].get("system"),
            "guest_busy_s": c["guest_cpu_s"].get("busy")}


def body(t):
    hplaced = os.environ.get("HPLACED_BIN")
    hotset = os.environ.get("HOTSET_BIN")
    if not hplaced or not hotset:
        raise rig.RigError("HPLACED_BIN and HOTSET_BIN must name the built "
                           "programs (ctest sets them)")
    entry = {"kernel": t.series, "phase_s": PHASE_S, "phases": PHASES,
             "hot_mib": HOT_MIB, "report_ms": REPORT_MS,
             "hplaced_args": hplaced_args()}
    with_kernel = t.series != "6.1"
    runs = {}
    with rig.Guest(t.env, "hplace", series=t.series, nodes_mib=(512, 1024),
                   hmat=True, overlay={"/bin/hplaced": hplaced,
                                       "/bin/hotset": hotset}) as g:
        rc, nb = g.run("cat /proc/sys/kernel/numa_balancing", check=False)
        nb_default = nb.strip() if rc == 0 else None
        entry["numa_balancing_default"] = nb_default
        rc, thp = g.run("cat /sys/kernel/mm/transparent_hugepage/enabled",
                        check=False)
        entry["thp_enabled"] = thp.strip() if rc == 0 else None
        tiers = g.memory_tiers()
        entry["memory_tiers"] = {str(k): v for k, v in sorted(tiers.items())}

        for size, thp_flag in (("thp", 1), ("4k", 0)):
            for policy in ("none", "hplaced"):
                name = "%s/%s" % (size, policy)
                g.set_kernel_tiering(False)
                if policy == "hplaced" and nb_default is not None:
                    # hplaced turns NUMA balancing off itself and puts it
                    # back at exit: give it the kernel's default to find.
                    g.run("echo %s > /proc/sys/kernel/numa_balancing" %
                          nb_default)
                raw = run_workload(g, "%s_%s" % (size, policy), thp_flag,
                                   policy == "hplaced")
                r = summarize(raw, policy, thp_flag)
                t.check("%s: workload ran" % name, raw["rc"] == 0,
                        raw["log"][-500:])
                t.check("%s: cold fill left < 64 MiB free on node 0" % name,
                        r["ready"] is not None and
                        r["ready"]["fmem_free_mib"] < HOT_MIB, r["ready"])
                if policy == "hplaced":
                    h = stop_hplaced(g, t, size)
                    add_hplaced(r, h, t, size, nb_default, raw["nb"].strip())
                else:
                    set_migrations(r)
                    t.check("%s: hot region stays < 10 %% on FMEM without a "
                            "mover" % name, r["max_node0_fraction"] is not None
                            and r["max_node0_fraction"] < BASELINE_MAX,
                            r["max_node0_fraction"], BASELINE_MAX)
                runs[(size, policy)] = r
                # Let the kernel hand the exited workload's pages back.
                g.settled_free_bytes(0)

        if with_kernel:
            n0, n1 = (rig.tier_number(tiers.get(n)) for n in (0, 1))
            tiered = n0 is not None and n1 is not None and n1 > n0
            t.check("6.12: SMEM node 1 is in a lower memory tier than node 0 "
                    "(/sys/devices/virtual/memory_tiering, HMAT)", tiered,
                    entry["memory_tiers"])
            if tiered:
                set_up = g.set_kernel_tiering(True)
                raw = run_workload(g, "4k_nb2", 0, False)
                g.set_kernel_tiering(False)
                r = summarize(raw, "numa_balancing_2", 0)
                r["tiering"] = set_up
                set_migrations(r)
                name = "4k/numa_balancing_2"
                t.check("%s: workload ran" % name, raw["rc"] == 0,
                        raw["log"][-500:])
                t.check("%s: cold fill left < 64 MiB free on node 0" % name,
                        r["ready"] is not None and
                        r["ready"]["fmem_free_mib"] < HOT_MIB, r["ready"])
                vd = r["vmstat_delta"]
                t.check("%s: the kernel's tiering engaged (numa_hint_faults "
                        "> 0 and pgpromote_success > 0)" % name,
                        vd.get("numa_hint_faults", 0) > 0 and
                        vd.get("pgpromote_success", 0) > 0,
                        {k: vd.get(k) for k in ("numa_hint_faults",
                                                "pgpromote_success")})
                runs[("4k", "numa_balancing_2")] = r

    # -- the whole cost of tiering ------------------------------------------
    nb2 = runs.get(("4k", "numa_balancing_2"))
    base4k = runs[("4k", "none")]
    fc = {"fault_cost_ns": None, "method": FAULT_COST_METHOD}
    if nb2 is not None:
        faults = nb2["cpu"]["phase_hint_faults"]
        a = nb2["cpu"]["workload_phase_stime_s"]
        b = base4k["cpu"]["workload_phase_stime_s"]
        if faults and a is not None and b is not None:
            fc.update(hint_faults=faults, extra_stime_s=round(a - b, 2))
            if a > b:
                fc["fault_cost_ns"] = round((a - b) / faults * 1e9)
            else:
                # Host load swung the runs' system time by more than the
                # faults cost: no estimate rather than a negative one.
                fc["method"] = ("not measured: the workload's extra system "
                                "time came out <= 0; " + FAULT_COST_METHOD)
    else:
        fc["method"] = ("not measured: no numa_balancing=2 run on this "
                        "kernel (one memory tier); " + FAULT_COST_METHOD)
    entry["fault_cost"] = fc
    for (size, policy), r in runs.items():
        finish_cpu(r, fc["fault_cost_ns"],
                   runs[(size, "none")] if policy != "none" else None)
        r.pop("_s1")
        r.pop("_s2")
    entry["variants"] = {
        size: dict(runs[(size, "hplaced")], baseline=runs[(size, "none")])
        for size in ("thp", "4k")}
    entry["tiering_cpu"] = {
        size: {p: cpu_row(r) for (s, p), r in runs.items() if s == size}
        for size in ("thp", "4k")}
    if nb2 is not None:
        entry["variants"]["kernel_nb2"] = nb2
        hp = runs[("4k", "hplaced")]
        cmp_ = {"time_to_90_s": {}, "migrations_per_promotion": {
            "hplaced": hp["migrations_per_promotion"],
            "kernel": nb2["migrations_per_promotion"]},
            "tiering_cpu_s": {"none": base4k["cpu"]["tiering_cpu_s"],
                              "hplaced": hp["cpu"]["tiering_cpu_s"],
                              "kernel": nb2["cpu"]["tiering_cpu_s"]}}
        for p in range(1, PHASES + 1):
            a, b = hp["time_to_90_s"][str(p)], nb2["time_to_90_s"][str(p)]
            cmp_["time_to_90_s"][str(p)] = {"hplaced": a, "kernel": b}
            # Reported, not yet held: the kernel's hint faults promote
            # at first touch and mostly win phase 1 (2.5-4.0 s against
            # hplaced's 5.0 s idle and loaded at the defaults on
            # 2026-12-07, 3.0-9.0 s over runs with the growth listing on:
            # a pass over the cold data written just before the phase
            # must see it cold first); hplaced wins phase 2.
            # `no_worse` records it.
            cmp_["time_to_90_s"][str(p)]["no_worse"] = no_worse(a, b)
            t.figure("phase%d_time_to_90_s_kernel" % p, b)
        entry["kernel_vs_hplaced_4k"] = cmp_

    for (size, policy), r in sorted(runs.items()):
        key = "%s_%s" % (size, policy)
        for p in range(1, PHASES + 1):
            t.figure("%s_time_to_90_s_phase%d" % (key, p),
                     r["time_to_90_s"][str(p)])
        if policy != "none":
            t.figure(key + "_migrations_per_promotion",
                     r["migrations_per_promotion"])
        t.figure(key + "_tiering_cpu_s", r["cpu"]["tiering_cpu_s"])
        if policy == "hplaced":
            t.figure(key + "_cpu_fraction", r["cpu"]["hplaced_fraction"])
            fo = r["fixed_overhead"]
            t.figure(key + "_fixed_overhead_pct",
                     fo["fixed_overhead_pct"] if isinstance(fo, dict) else fo)
    t.figure("fault_cost_ns", fc["fault_cost_ns"])

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

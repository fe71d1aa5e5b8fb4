"""TierVM demo, in three acts, shown live.

Act 1 - per-node resizing of one tiered VM: boots one guest (node 0 FMEM
1 GiB, node 1 SMEM 1 GiB), then walks the host-side targets through a
schedule, printing after each step a table of both nodes: QMP target and
device-counted actual, the guest's MemFree on the node, and host memory
held by the node's backend.

Act 2 - the host agent fills new FMEM with the hot set: boots two such
guests, vm1-idle and vm2-busy, both at 384 MiB of FMEM, and starts
tiervm-agent on their QMP sockets (budget 1 GiB of FMEM for both, min
256 MiB).  Then, at one moment, hplaced starts in both guests at its
shipped defaults and an 800 MiB hot workload (hotset: random accesses over
a region it first puts on SMEM) starts in vm2-busy.  Every ~3 s it prints
per VM the FMEM target/actual, the hot set and the SMEM access share the
agent holds from hplaced's telemetry (`tiervm status --json`), and for
vm2-busy the share of its hot region that the guest finds on FMEM
(move_pages).  Once the agent has grown vm2-busy's FMEM target after its
hotness curve arrived (the grant) and the balloon has followed, it watches up
to 60 s more, counted from when the balloon followed the last rise of
the target by >= 32 MiB (at least 20 s; sooner once the hot region's
FMEM share settles).
Goals: the agent grants vm2-busy FMEM; its SMEM share then falls by >= 10
points; its hot region gains at least half of the granted MiB on FMEM.

Act 3 - placement inside one guest: boots a guest with FMEM 512 MiB and
SMEM 1 GiB and starts, at one moment, hplaced at its shipped defaults
(accessed-bit source) and a workload that puts two 64 MiB hot regions on
SMEM, fills FMEM with cold data and hammers region 1 for 30 s (phase 1),
then region 2 for 30 s (phase 2); prints every second how much of the
current hot region is on FMEM and hplaced's promotion/demotion counters.
Goal: in each phase >= 90 % of the hot region on FMEM before the phase
ends.

hplaced runs with no config file and no budget flag in acts 2 and 3: only
--status-file and --log-level.  Every goal prints "GOAL MET: ..." or
"GOAL NOT MET: ..."; a summary at the end repeats them.

Exit status: 0 when every act ran to its end, whether or not its goals
were met; 1 when something broke (a guest failed to boot, a guest command
failed, hplaced, hotset or tiervm-agent died or exited with an error);
2 for bad usage.

results/demo.json (written also when something broke):
  accel                 "KVM" or "TCG (KVM not usable)"
  goals[]               {act, goal, met, detail} for every goal
  broken[]              what broke (empty when the exit status is 0)
  runtime_s             of the acts run
  steps / agent / placement   one per act run; an act that broke has
                        "error" (agent, placement) and what it had so far
  steps[]               act 1: {t_s, node, target_mib, converged_s,
                        nodes[]: {node, tier, target_mib, actual_mib,
                        guest_free_mib, host_backend_mib}}
  agent                 act 2:
    budget_mib, start_fmem_mib, min_fmem_mib, hot_mib   the setup
    hplaced_args        hplaced's command line in both guests
    status_before       `tiervm status --json` before hplaced/workload start
    series[]            every ~3 s: {t_s (since hplaced and the workload
                        started), sum_fmem_target_mib, vms: {name: {state,
                        fmem_target_mib, fmem_actual_mib, hot_mib,
                        smem_share_pct (null until the agent holds a
                        hotness curve from hplaced, i.e. samples),
                        psi_some_ppm, telemetry_fresh,
                        telemetry_accepted, telemetry_rejected}}, busy:
                        {hot_on_fmem_pct (hot region pages on node 0, as
                        the guest's last hotset line says; null before it
                        reports), hotset_t_s, promoted_pages,
                        demoted_pages, hplaced_smem_share_pct (0 after a
                        tick without samples), fmem_memfree_mib (hplaced's
                        status file)}}
    hotset_ready_t_s    first poll that saw hotset hammering
    grant               null if the agent never grew vm2-busy after its
                        hotness curve arrived, else {t_s (the first poll, once
                        the agent holds vm2-busy's curve, at which its
                        FMEM target rose), done_t_s (first poll with
                        actual == target after the last rise of the
                        target by >= 32 MiB; null if it never got there),
                        before_target_mib, before_actual_mib (at
                        the poll before t_s), after_target_mib,
                        after_actual_mib (at the end), granted_mib
                        (after_actual - before_actual)}
    watched_after_grant_s  seconds observed after done_t_s
    smem_share_pct      {before (the higher of the grant's poll and the
                        next: what the agent saw when it granted), after
                        (median of the last three polls)} of vm2-busy, as
                        the agent reports it
    hot_on_fmem_pct     {before (at the grant's poll, or the first hotset
                        report if it had not reported yet; see
                        hot_before_source), after (last poll)}
    hot_before_source   where hot_on_fmem_pct.before comes from
    hot_fmem_gain_mib   (after - before) / 100 * hot_mib
    verdict             {granted, smem_share_fell, hot_set_moved}
    cuts_after_grant[]  {t_s, from_mib, to_mib, hot_mib}: polls at which the
                        agent lowered vm2-busy's target after the grant
    telemetry           per VM at the end: accepted, rejected,
                        last_telemetry_error
    hplaced             per VM at the end: {alive, status (hplaced's status
                        JSON), stderr_tail[]}
    agent_rc, agent_log, agent_log_warnings[]   SIGTERM exit status, log
                        path, its warning/error lines (up to 30)
    target_sets[]       the agent's --target-log lines
    max_sum_fmem_target_mib
  placement             act 3:
    phase_s, hot_mib, hplaced_args, hplaced_budget_pct (from its status)
    ready               hotset's {ready, cold_mib, fmem_free_mib}
    series[]            {t_s (guest seconds since phase 1 started), phase,
                        hot_on_fmem_pct, mops, promoted_pages,
                        demoted_pages (hplaced's counters when the line was
                        read)}
    time_to_90_s        {"1", "2"}: seconds from the phase's start to its
                        first report with >= 90 % on FMEM; null if never
    reached_90          {"1", "2"}: booleans
    max_hot_on_fmem_pct, phase_start_hot_on_fmem_pct,
    phase_end_hot_on_fmem_pct   {"1", "2"}: the most, the first and the
                        last report of the phase
    min_after_90_pct    {"1", "2"}: the least after first reaching 90 %
                        (null if never reached)
    hotset_rc, hplaced  the workload's exit status; hplaced as in act 2

usage: demo.py [--act 1|2|3|all]; the act-2/3 programs come from TIERVM_BUILD
(the CMake build tree, scripts/demo.sh builds them).
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "vm"))
import rig  # noqa: E402

MIB = rig.MIB
SCHEDULE = [  # (node, target MiB): shrink FMEM, shrink SMEM, give back
    (0, 512), (1, 256), (0, 768), (1, 640), (0, 128), (1, 0), (0, 0)]

# What broke (exit status 1) and the goals, met or not.
BROKEN = []
GOALS = []


def broke(what):
    BROKEN.append(what)
    print("BROKEN: %s" % what)
    sys.stdout.flush()


def goal(act, text, met, detail):
    GOALS.append({"act": act, "goal": text, "met": bool(met),
                  "detail": detail})
    print("%s: act %d: %s  [%s]" % ("GOAL MET" if met else "GOAL NOT MET",
                                     act, text, detail))
    sys.stdout.flush()


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


def act1(env, accel, steps):
    print("TierVM demo, act 1: booting a 2-node tiered guest under %s" % accel)
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


def build_bin(build, *rel):
    path = os.path.join(build, *rel)
    if not os.path.isfile(path):
        raise rig.RigError("%s missing: build it first (scripts/demo.sh does)"
                           % path)
    return path


def build_dir():
    return os.environ.get("TIERVM_BUILD") or os.path.join(
        os.path.dirname(__file__), "..", "build")


# -- hplaced and hotset in a guest ------------------------------------------

# hplaced at its shipped defaults: no --config, no --budget-pct; only where
# its status and its log go.  It turns kernel.numa_balancing off itself
# (daemon.numa_balancing = "off").
HPLACED_ARGS = "--status-file=/tmp/hp.json --log-level=warn"


def start_hplaced_and(g, workload=None):
    """Starts hplaced and, in the same guest command (no head start for
    either), `workload` with its output and exit status in /tmp/hot.log."""
    cmd = ("hplaced %s > /dev/null 2> /tmp/hp.err & echo $! > /tmp/hp.pid"
           % HPLACED_ARGS)
    if workload:
        cmd += "; (%s; echo hotset-rc=$?) > /tmp/hot.log 2>&1 &" % workload
    g.run(cmd)


def parse_obj(text):
    text = text.strip()
    if not text.startswith("{"):
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {}


def fmem_pct(r):
    return round(100.0 * rig.hot_fraction(r), 1)


def hplaced_report(g, act, name):
    """hplaced at the end of an act: alive?, its status JSON, the tail of
    its log.  A dead hplaced is a broken run."""
    rc, pid = g.run("cat /tmp/hp.pid", check=False)
    alive = rc == 0 and pid.strip().isdigit() and g.run(
        "kill -0 %s 2>/dev/null; echo $?" % pid.strip()).strip() == "0"
    _, st = g.run("cat /tmp/hp.json", check=False)
    _, err = g.run("tail -n 20 /tmp/hp.err", check=False)
    rep = {"alive": alive, "status": parse_obj(st),
           "stderr_tail": err.splitlines()}
    if not alive:
        broke("act %d: hplaced in %s is not running; its log: %s" % (
            act, name, " | ".join(rep["stderr_tail"][-5:])))
    elif rep["stderr_tail"]:
        print("hplaced in %s logged (last lines):\n    %s" % (
            name, "\n    ".join(rep["stderr_tail"][-5:])))
    return rep


# -- act 2 ------------------------------------------------------------------

AGENT_BUDGET_MIB = 1024
AGENT_START_MIB = 384
AGENT_MIN_MIB = 256
AGENT_HOT_MIB = 800
AGENT_POLL_S = 3
AGENT_MAX_S = 240          # for the grant, from the workload's start
ACT2_AFTER_S = 60          # watching after the grant completed
ACT2_MIN_AFTER_S = 20      # ... at least, when the hot set settles sooner
ACT2_SETTLED_POLLS = 4
ACT2_GRANT_DONE_S = 120    # for the balloon to follow a grant
ACT2_REGRANT_MIB = 32      # a further rise this big restarts the watch
SMEM_SHARE_DROP_PCT = 10   # goal: busy VM's SMEM share falls this much
HOT_GAIN_OF_GRANT = 0.5    # goal: this share of the granted MiB is hot data


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def act2(env, accel, out):
    build = build_dir()
    agent_bin = build_bin(build, "host-agent", "tiervm-agent")
    cli = build_bin(build, "host-agent", "tiervm")
    hplaced = build_bin(build, "guest-driver", "daemon", "hplaced", "hplaced")
    hotset = build_bin(build, "tests", "vm", "hplace_hotset")
    print("\nTierVM demo, act 2: tiervm-agent balancing FMEM between two "
          "guests under %s" % accel)
    work = tempfile.mkdtemp(prefix="tiervm-demo-agent-")
    qmp_dir = os.path.join(work, "qmp")
    os.makedirs(qmp_dir)
    sock = os.path.join(work, "agent.sock")
    target_log = os.path.join(work, "targets.jsonl")
    agent_log = os.path.join(work, "agent.log")
    # The idle VM sorts first: before any telemetry the two look alike and
    # the policy's tie goes to it, so what follows is the telemetry's doing.
    idle, busy = "vm1-idle", "vm2-busy"
    names = (idle, busy)
    guests, agent = {}, None
    out.update({"budget_mib": AGENT_BUDGET_MIB,
                "start_fmem_mib": AGENT_START_MIB,
                "min_fmem_mib": AGENT_MIN_MIB, "hot_mib": AGENT_HOT_MIB,
                "hplaced_args": HPLACED_ARGS, "agent_log": agent_log,
                "series": [], "grant": None})

    def status_json():
        try:
            r = subprocess.run([cli, "--socket", sock, "status", "--json"],
                               capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return None
        return parse_obj(r.stdout) if r.returncode == 0 else None

    def show_status(t):
        r = subprocess.run([cli, "--socket", sock, "status"],
                           capture_output=True, text=True, timeout=30)
        print("\n$ tiervm status        (t=%.0fs)" % t)
        print(r.stdout if r.returncode == 0 else r.stderr, end="")
        sys.stdout.flush()

    try:
        for name in names:
            print("booting guest %s (1 GiB FMEM + 1 GiB SMEM)" % name)
            sys.stdout.flush()
            g = rig.Guest(env, "demo-" + name, nodes_mib=(1024, 1024), smp=1,
                          overlay={"/bin/hplaced": hplaced,
                                   "/bin/hotset": hotset},
                          extra_args=["-qmp", "unix:%s/%s.sock,server=on,"
                                      "wait=off" % (qmp_dir, name)])
            guests[name] = g
            g.start()
            balloon = (1024 - AGENT_START_MIB) * MIB
            g.hb_set_target(0, balloon)
            g.hb_wait_actual(0, balloon, timeout=180)
        conf = os.path.join(work, "agent.toml")
        with open(conf, "w") as f:
            f.write('budget = "%dMiB"\nqmp_socket_dir = "%s"\n'
                    'control_socket = "%s"\nmetrics_listen = "127.0.0.1:0"\n'
                    'target_log = "%s"\nqmp_timeout_ms = 5000\n'
                    '[defaults]\nmin_fmem = "%dMiB"\n'
                    '[actuator]\nshrink_timeout_ms = 120000\n'
                    'grow_timeout_ms = 120000\n'
                    '[pressure]\nhigh_free = "64MiB"\nlow_free = "128MiB"\n'
                    'min_low_free = "128MiB"\n' % (
                        AGENT_BUDGET_MIB, qmp_dir, sock, target_log,
                        AGENT_MIN_MIB))
        print("\n>>> tiervm-agent --config %s  (budget %d MiB for both VMs,"
              " each starts at %d MiB, min %d MiB)" % (
                  conf, AGENT_BUDGET_MIB, AGENT_START_MIB, AGENT_MIN_MIB))
        agent = subprocess.Popen([agent_bin, "--config", conf],
                                 stdout=open(agent_log, "w"),
                                 stderr=subprocess.STDOUT)
        for _ in range(30):
            time.sleep(1)
            st = status_json()
            if st and len(st.get("vms", [])) == len(names):
                break
        out["status_before"] = status_json()
        show_status(0)
        print("(no telemetry yet: the two VMs look alike to the agent and "
              "its tie goes to %s)" % idle)

        print("\n>>> starting hplaced (shipped defaults: hplaced %s) in both "
              "guests and, with it, a hot workload in %s: %d MiB on SMEM, "
              "random accesses (hotset)" % (HPLACED_ARGS, busy,
                                             AGENT_HOT_MIB))
        start_hplaced_and(guests[idle])
        start_hplaced_and(guests[busy], "hotset --hot-mib %d --phase-s %d "
                          "--phases 1 --report-ms 3000" % (
                              AGENT_HOT_MIB, AGENT_MAX_S + ACT2_AFTER_S +
                              ACT2_GRANT_DONE_S + 60))
        t0 = time.monotonic()
        print("\n%6s  %-55s | %-13s |" % ("", busy + " (agent's view; "
                                            "last column: the guest's)",
                                            idle))
        print("%6s  %13s  %8s  %10s  %18s | %13s | %s" % (
            "t_s", "FMEM tgt/act", "hot set", "SMEM share",
            "hot region on FMEM", "FMEM tgt/act", "states"))
        grant_t = grant_step_t = done_t = None
        rejected = {n: 0 for n in names}
        hot_rc = None
        while True:
            time.sleep(AGENT_POLL_S)
            t = round(time.monotonic() - t0, 1)
            if t > AGENT_MAX_S + ACT2_GRANT_DONE_S + ACT2_AFTER_S:
                print(">>> giving up after %.0f s" % t)
                break
            if agent.poll() is not None:
                broke("act 2: tiervm-agent exited with status %d (log %s)"
                      % (agent.returncode, agent_log))
                break
            st = status_json()
            _, text = guests[busy].run(
                "tail -n 3 /tmp/hot.log; echo ---; cat /tmp/hp.json",
                check=False)
            hot_text, _, hp_text = text.partition("---")
            hot_rows, _, rc, hot_other = rig.parse_hotset(hot_text)
            hp = parse_obj(hp_text)
            if rc is not None:
                hot_rc = rc
            if not st:
                print("%6.1f | tiervm status did not answer" % t)
                continue
            vms = {v["vm"]: v for v in st.get("vms", [])}
            r = {"t_s": t,
                 "sum_fmem_target_mib": st["sum_fmem_target_bytes"] // MIB,
                 "vms": {}, "busy": {}}
            for n, v in vms.items():
                r["vms"][n] = {
                    "state": v["state"],
                    "fmem_target_mib": v["fmem_target_bytes"] // MIB,
                    "fmem_actual_mib": v["fmem_actual_bytes"] // MIB,
                    "hot_mib": v["hot_bytes"] // MIB,
                    # hplaced sends its SMEM share and hotness curve only
                    # once it has samples: until then the agent says 0.
                    "smem_share_pct": round(v["smem_share_ppm"] / 1e4, 1)
                    if v["telemetry_accepted"] > 0 and v["hot_bytes"] > 0
                    else None,
                    "psi_some_ppm": v["psi_some_ppm"],
                    "telemetry_fresh": v["telemetry_fresh"],
                    "telemetry_accepted": v["telemetry_accepted"],
                    "telemetry_rejected": v["telemetry_rejected"]}
                if v["telemetry_rejected"] > rejected.get(n, 0):
                    print("       ! %s: %d telemetry reports rejected: %s" % (
                        n, v["telemetry_rejected"],
                        v["last_telemetry_error"]))
                    rejected[n] = v["telemetry_rejected"]
            last_hot = hot_rows[-1] if hot_rows else None
            if last_hot is None and out["series"]:
                prev = out["series"][-1]["busy"]
                last_hot = prev.get("_row")
            r["busy"] = {
                "hot_on_fmem_pct": fmem_pct(last_hot) if last_hot else None,
                "hotset_t_s": last_hot["t_s"] if last_hot else None,
                "promoted_pages": hp.get("promoted_pages"),
                "demoted_pages": hp.get("demoted_pages"),
                "hplaced_smem_share_pct": round(hp["smem_share_ppm"] / 1e4, 1)
                if "smem_share_ppm" in hp else None,
                "fmem_memfree_mib": hp["fmem_memfree_bytes"] // MIB
                if "fmem_memfree_bytes" in hp else None,
                "_row": last_hot}
            if last_hot and out.get("hotset_ready_t_s") is None:
                out["hotset_ready_t_s"] = t
                print(">>> t=%.0fs: hotset is hammering its %d MiB region "
                      "(%.1f %% of it on FMEM)" % (t, AGENT_HOT_MIB,
                                                    fmem_pct(last_hot)))
            out["series"].append(r)
            b, i = r["vms"].get(busy), r["vms"].get(idle)
            if not (b and i):
                print("%6.1f | the agent does not see both VMs: %s" % (
                    t, sorted(vms)))
                continue

            def pct(x):
                return "-" if x is None else "%.1f %%" % x
            print("%6.1f  %4d/%4d MiB  %4d MiB  %10s  %18s | %4d/%4d MiB | "
                  "%s/%s" % (
                      t, b["fmem_target_mib"], b["fmem_actual_mib"],
                      b["hot_mib"], pct(b["smem_share_pct"]),
                      pct(r["busy"]["hot_on_fmem_pct"]),
                      i["fmem_target_mib"], i["fmem_actual_mib"],
                      b["state"], i["state"]))
            sys.stdout.flush()
            # The grant: the busy VM's target rises, once the agent holds
            # its hotness curve (before that the agent knows nothing that
            # sets the two VMs apart, and the tie went to the idle VM).
            prev = out["series"][-2] if len(out["series"]) > 1 else None
            if grant_t is None and b["smem_share_pct"] is not None and \
                    prev and busy in prev["vms"] and b["fmem_target_mib"] > \
                    prev["vms"][busy]["fmem_target_mib"]:
                grant_t = grant_step_t = t
                before = prev["vms"][busy]
                out["grant"] = {
                    "t_s": t, "done_t_s": None,
                    "before_target_mib": before["fmem_target_mib"],
                    "before_actual_mib": before["fmem_actual_mib"]}
                print("\n>>> t=%.0fs: the agent grants %s more FMEM: target "
                      "%d -> %d MiB (its hot set: %d MiB)" % (
                          t, busy, before["fmem_target_mib"],
                          b["fmem_target_mib"], b["hot_mib"]))
                show_status(t)
                print()
            elif grant_t is not None and prev and busy in prev["vms"] and \
                    b["fmem_target_mib"] >= ACT2_REGRANT_MIB + \
                    prev["vms"][busy]["fmem_target_mib"]:
                # The grant grows on: watch from when the balloon follows.
                if done_t is not None:
                    print(">>> t=%.0fs: the agent grants %s more: target "
                          "%d -> %d MiB" % (
                              t, busy, prev["vms"][busy]["fmem_target_mib"],
                              b["fmem_target_mib"]))
                grant_step_t, done_t = t, None
                out["grant"]["done_t_s"] = None
            if grant_t is not None and done_t is None and \
                    abs(b["fmem_actual_mib"] - b["fmem_target_mib"]) <= 2:
                done_t = t
                out["grant"]["done_t_s"] = t
                print(">>> t=%.0fs: %s now holds %d MiB of FMEM; watching "
                      "up to %d s whether its hot set moves into it" % (
                          t, busy, b["fmem_actual_mib"], ACT2_AFTER_S))
            if hot_rc is not None:
                if hot_rc != 0:
                    broke("act 2: hotset in %s exited with status %d: %s" % (
                        busy, hot_rc, " | ".join(hot_other[-3:])))
                else:
                    print(">>> hotset ended")
                break
            if grant_t is None and t >= AGENT_MAX_S:
                print(">>> no grant to %s within %d s" % (busy, AGENT_MAX_S))
                break
            if grant_t is not None and done_t is None and \
                    t - grant_step_t >= ACT2_GRANT_DONE_S:
                print(">>> %s's FMEM actual did not reach its target within "
                      "%d s" % (busy, ACT2_GRANT_DONE_S))
                break
            if done_t is not None:
                # Up to ACT2_AFTER_S; sooner once the hot region's FMEM
                # share has settled (< 1 point in the last four polls).
                hot = [s["busy"]["hot_on_fmem_pct"]
                       for s in out["series"][-ACT2_SETTLED_POLLS:]]
                settled = len(hot) == ACT2_SETTLED_POLLS and \
                    None not in hot and max(hot) - min(hot) < 1.0 and \
                    b["state"] == "idle" and \
                    b["fmem_actual_mib"] == b["fmem_target_mib"]
                if t - done_t >= ACT2_AFTER_S or (
                        t - done_t >= ACT2_MIN_AFTER_S and settled):
                    break
        if out["series"]:
            show_status(out["series"][-1]["t_s"])
        out["watched_after_grant_s"] = round(
            out["series"][-1]["t_s"] - done_t, 1) if done_t is not None \
            and out["series"] else None
        for s in out["series"]:
            s["busy"].pop("_row", None)
        fin = status_json()
        if fin:
            out["telemetry"] = {v["vm"]: {
                "accepted": v["telemetry_accepted"],
                "rejected": v["telemetry_rejected"],
                "last_telemetry_error": v["last_telemetry_error"]}
                for v in fin["vms"]}
        out["hplaced"] = {n: hplaced_report(g, 2, n)
                          for n, g in guests.items()}
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            out["agent_rc"] = agent.wait(timeout=30)
            if out["agent_rc"] != 0:
                broke("act 2: tiervm-agent exited with status %d on SIGTERM"
                      % out["agent_rc"])
        else:
            out["agent_rc"] = agent.returncode
        agent = None
    finally:
        for s in out["series"]:
            s["busy"].pop("_row", None)
        if agent is not None:
            agent.kill()
            agent.wait()
        for g in guests.values():
            try:
                g.stop()
            except Exception:
                pass
    if os.path.exists(agent_log):
        with open(agent_log, errors="replace") as f:
            out["agent_log_warnings"] = [
                l.rstrip() for l in f
                if re.match(r"^\S+ (warning|error|critical) ", l)][:30]
    sets = rig.read_jsonl(target_log)
    out["target_sets"] = sets
    out["max_sum_fmem_target_mib"] = max(
        [s["sum_fmem_target_bytes"] // MIB for s in sets] or [0])
    act2_report(out, busy)


def act2_verdict(out, busy):
    """Fills out's grant/before/after figures and verdict from the series
    so far; returns the verdict."""
    series = [s for s in out["series"] if busy in s["vms"]]
    grant = out.get("grant")
    last = series[-1] if series else None
    if grant and last:
        grant["after_target_mib"] = last["vms"][busy]["fmem_target_mib"]
        grant["after_actual_mib"] = last["vms"][busy]["fmem_actual_mib"]
        grant["granted_mib"] = grant["after_actual_mib"] - \
            grant["before_actual_mib"]
    gi = [k for k, s in enumerate(series) if grant and
          s["t_s"] == grant["t_s"]]
    at = [series[gi[0]]] if gi else []
    # hplaced's first curve reports rest on few samples: the higher of the
    # grant's poll and the next one.
    first = [s["vms"][busy]["smem_share_pct"]
             for s in series[gi[0]:gi[0] + 2]
             if s["vms"][busy]["smem_share_pct"] is not None] if gi else []
    share_before = max(first) if first else None
    share_after = median([s["vms"][busy]["smem_share_pct"]
                          for s in series[-3:]])
    hot_before = at[0]["busy"]["hot_on_fmem_pct"] if at else None
    out["hot_before_source"] = "the grant's poll"
    if hot_before is None:
        first = [s for s in series if s["busy"]["hot_on_fmem_pct"] is not None]
        if first:
            hot_before = first[0]["busy"]["hot_on_fmem_pct"]
            out["hot_before_source"] = ("first hotset report (t_s %.1f)" %
                                        first[0]["t_s"])
    hot_after = last["busy"]["hot_on_fmem_pct"] if last else None
    out["smem_share_pct"] = {"before": share_before, "after": share_after}
    out["hot_on_fmem_pct"] = {"before": hot_before, "after": hot_after}
    gain = None
    if hot_before is not None and hot_after is not None:
        gain = round((hot_after - hot_before) / 100.0 * AGENT_HOT_MIB)
    out["hot_fmem_gain_mib"] = gain
    granted_mib = grant.get("granted_mib") if grant else None
    granted = bool(granted_mib) and granted_mib > 0
    out["verdict"] = v = {
        "granted": granted,
        "smem_share_fell": granted and share_before is not None and
        share_after is not None and
        share_before - share_after >= SMEM_SHARE_DROP_PCT,
        "hot_set_moved": granted and bool(granted_mib) and granted_mib > 0
        and gain is not None and gain >= HOT_GAIN_OF_GRANT * granted_mib}
    return v


def act2_report(out, busy):
    v = act2_verdict(out, busy)
    grant = out["grant"]
    # The agent taking FMEM back from the busy VM after granting it.
    cuts = []
    series = [s for s in out["series"] if busy in s["vms"]]
    for a, b in zip(series, series[1:]):
        if grant and b["t_s"] > grant["t_s"] and \
                b["vms"][busy]["fmem_target_mib"] < \
                a["vms"][busy]["fmem_target_mib"]:
            cuts.append({"t_s": b["t_s"],
                         "from_mib": a["vms"][busy]["fmem_target_mib"],
                         "to_mib": b["vms"][busy]["fmem_target_mib"],
                         "hot_mib": b["vms"][busy]["hot_mib"]})
    out["cuts_after_grant"] = cuts
    for c in cuts:
        print("note: t=%.0fs: after the grant the agent cut %s's FMEM target "
              "%d -> %d MiB (the hot set it holds: %d MiB)" % (
                  c["t_s"], busy, c["from_mib"], c["to_mib"], c["hot_mib"]))
    print("\nthe agent set %d targets; the sum of FMEM targets never exceeded"
          " %d MiB (budget %d MiB); log: %s" % (
              len(out["target_sets"]), out["max_sum_fmem_target_mib"],
              AGENT_BUDGET_MIB, out["agent_log"]))
    for n, tel in (out.get("telemetry") or {}).items():
        if tel["rejected"] or not tel["accepted"]:
            print("suspicious: %s: telemetry accepted %d, rejected %d (%s)" % (
                n, tel["accepted"], tel["rejected"],
                tel["last_telemetry_error"]))
    for l in out.get("agent_log_warnings", [])[:5]:
        print("agent log: %s" % l)
    goal(2, "the agent grants %s more FMEM" % busy, v["granted"],
         "FMEM %d -> %s MiB from t=%.0fs" % (
             grant["before_actual_mib"], grant.get("after_actual_mib"),
             grant["t_s"])
         if grant else "no grant within %d s" % AGENT_MAX_S)

    def p(x):
        return "-" if x is None else "%.1f %%" % x
    sh, hot = out["smem_share_pct"], out["hot_on_fmem_pct"]
    watched = out.get("watched_after_grant_s")
    goal(2, "%s's SMEM share falls by >= %d points after the grant" % (
        busy, SMEM_SHARE_DROP_PCT), v["smem_share_fell"],
        "%s before, %s at the end%s" % (
            p(sh["before"]), p(sh["after"]), "" if watched is None else
            " (%.0f s after the grant completed)" % watched))
    goal(2, "%s's hot set moves into the new FMEM (>= %d %% of the granted "
         "MiB)" % (busy, HOT_GAIN_OF_GRANT * 100), v["hot_set_moved"],
         "hot region on FMEM %s -> %s, %s MiB; the grant: +%s MiB" % (
             p(hot["before"]), p(hot["after"]),
             "%+d" % out["hot_fmem_gain_mib"]
             if out["hot_fmem_gain_mib"] is not None else "?",
             grant.get("granted_mib") if grant else 0))


# -- act 3 ------------------------------------------------------------------

ACT3_PHASE_S = 30
ACT3_HOT_MIB = 64
ACT3_TARGET_PCT = 90.0
ACT3_SETUP_S = 240         # for hotset's set-up (placing, cold fill)


def act3(env, accel, out):
    build = build_dir()
    hplaced = build_bin(build, "guest-driver", "daemon", "hplaced", "hplaced")
    hotset = build_bin(build, "tests", "vm", "hplace_hotset")
    print("\nTierVM demo, act 3: hplaced keeping a moving hot set on FMEM "
          "under %s (hplaced %s, shipped defaults)" % (accel, HPLACED_ARGS))
    out.update({"phase_s": ACT3_PHASE_S, "hot_mib": ACT3_HOT_MIB,
                "hplaced_args": HPLACED_ARGS, "series": []})
    with rig.Guest(env, "demo-place", nodes_mib=(512, 1024),
                   overlay={"/bin/hplaced": hplaced,
                            "/bin/hotset": hotset}) as g:
        print(">>> starting hplaced and, with it, hotset: two %d MiB regions"
              " put on SMEM, FMEM filled with cold data, then region 1 "
              "hammered for %d s, region 2 for %d s" % (
                  ACT3_HOT_MIB, ACT3_PHASE_S, ACT3_PHASE_S))
        start_hplaced_and(g, "hotset --hot-mib %d --phase-s %d --phases 2 "
                          "--report-ms 1000" % (ACT3_HOT_MIB, ACT3_PHASE_S))
        deadline = time.monotonic() + 2 * ACT3_PHASE_S + ACT3_SETUP_S
        shown, rc, st, ready_shown, phase_shown = 0, None, {}, False, 0
        while True:
            time.sleep(2)
            rows, ready, rc, other = rig.parse_hotset(
                g.run("cat /tmp/hot.log", check=False)[1])
            st = parse_obj(g.run("cat /tmp/hp.json", check=False)[1]) or st
            if ready and not ready_shown:
                out["ready"] = ready
                ready_shown = True
                print(">>> workload ready: %d MiB of cold data on FMEM, %d "
                      "MiB of FMEM free; the hot region starts on SMEM" % (
                          ready["cold_mib"], ready["fmem_free_mib"]))
                print("%6s %6s %16s %10s %10s" % (
                    "t_s", "phase", "hot on FMEM", "promoted", "demoted"))
            for r in rows[shown:]:
                if r["phase"] != phase_shown:
                    phase_shown = r["phase"]
                    if phase_shown > 1:
                        print(">>> phase %d: the hot set moves to region %d "
                              "(also on SMEM)" % (phase_shown, phase_shown))
                s = {"t_s": r["t_s"], "phase": r["phase"],
                     "hot_on_fmem_pct": fmem_pct(r), "mops": r["mops"],
                     "promoted_pages": st.get("promoted_pages"),
                     "demoted_pages": st.get("demoted_pages")}
                out["series"].append(s)
                print("%6.1f %6d %15.1f%% %10s %10s" % (
                    s["t_s"], s["phase"], s["hot_on_fmem_pct"],
                    s["promoted_pages"], s["demoted_pages"]))
            shown = len(rows)
            sys.stdout.flush()
            if rc is not None:
                break
            if time.monotonic() > deadline:
                broke("act 3: hotset did not finish within %d s" % (
                    2 * ACT3_PHASE_S + ACT3_SETUP_S))
                break
        out["hotset_rc"] = rc
        if rc not in (None, 0):
            broke("act 3: hotset exited with status %d: %s" % (
                rc, " | ".join(other[-3:])))
        out["hplaced"] = hplaced_report(g, 3, "the guest")
        out["hplaced_budget_pct"] = (out["hplaced"]["status"] or st).get(
            "budget_pct")
    ttf, reached, peak, first, low, last = {}, {}, {}, {}, {}, {}
    for p in (1, 2):
        rows = [s for s in out["series"] if s["phase"] == p]
        vals = [s["hot_on_fmem_pct"] for s in rows]
        hit = [i for i, v in enumerate(vals) if v >= ACT3_TARGET_PCT]
        k = str(p)
        ttf[k] = round(rows[hit[0]]["t_s"] - (p - 1) * ACT3_PHASE_S, 1) \
            if hit else None
        reached[k] = bool(hit)
        peak[k] = max(vals) if vals else None
        first[k] = vals[0] if vals else None
        low[k] = min(vals[hit[0]:]) if hit else None
        last[k] = vals[-1] if vals else None
    out["time_to_90_s"] = ttf
    out["reached_90"] = reached
    out["max_hot_on_fmem_pct"] = peak
    out["phase_start_hot_on_fmem_pct"] = first
    out["min_after_90_pct"] = low
    out["phase_end_hot_on_fmem_pct"] = last
    for k in ("1", "2"):
        goal(3, "phase %s: >= %d %% of the hot region on FMEM within the "
             "%d s phase" % (k, ACT3_TARGET_PCT, ACT3_PHASE_S), reached[k],
             "after %.1f s" % ttf[k] if reached[k] else
             "at most %s %%" % peak[k] if peak[k] is not None else
             "no residency report")
        if first[k] is not None and first[k] >= 50:
            print("note: phase %s's region was already %.1f %% on FMEM when "
                  "the phase started (it had been on SMEM: moved before it "
                  "became hot)" % (k, first[k]))
        if low[k] is not None and low[k] < ACT3_TARGET_PCT:
            print("note: phase %s fell back to %.1f %% on FMEM after "
                  "reaching %d %% (%.1f %% at its end)" % (
                      k, low[k], ACT3_TARGET_PCT, last[k]))


def main():
    act = "all"
    if len(sys.argv) == 3 and sys.argv[1] == "--act" and \
            sys.argv[2] in ("1", "2", "3", "all"):
        act = sys.argv[2]
    elif len(sys.argv) != 1:
        sys.stderr.write("usage: demo.py [--act 1|2|3|all]\n")
        return 2
    env = rig.load_env()
    accel = "KVM" if env.get("KVM_USABLE") == "1" else "TCG (KVM not usable)"
    result = {"accel": accel, "goals": GOALS, "broken": BROKEN}
    t_start = time.monotonic()
    acts = [("1", "steps", [], act1), ("2", "agent", {}, act2),
            ("3", "placement", {}, act3)]
    for n, key, out, fn in acts:
        if act not in (n, "all"):
            continue
        result[key] = out
        try:
            fn(env, accel, out)
        except Exception as e:  # a boot failure, a failed guest command
            traceback.print_exc()
            broke("act %s: %s: %s" % (n, type(e).__name__, e))
            if isinstance(out, dict):
                out["error"] = "%s: %s" % (type(e).__name__, e)
    result["runtime_s"] = round(time.monotonic() - t_start, 1)
    path = rig.write_result("demo", result)
    print("\nsummary (%.0f s):" % result["runtime_s"])
    for gl in GOALS:
        print("  act %d: %-8s %s  [%s]" % (gl["act"], "MET" if gl["met"]
                                           else "NOT MET", gl["goal"],
                                           gl["detail"]))
    for b in BROKEN:
        print("  BROKEN: %s" % b)
    print("wrote %s" % path)
    return 1 if BROKEN else 0


if __name__ == "__main__":
    sys.exit(main())

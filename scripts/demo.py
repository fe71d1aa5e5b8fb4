"""TierVM demo, in three acts, shown live.

Act 1 - per-node resizing of one tiered VM: boots one guest (node 0 FMEM
1 GiB, node 1 SMEM 1 GiB), then walks the host-side targets through a
schedule, printing after each step a table of both nodes: QMP target and
device-counted actual, the guest's MemFree on the node, and host memory
held by the node's backend.

Act 2 - the host agent: boots two such guests running the guest placement
daemon hplaced, starts tiervm-agent (budget 1 GiB of FMEM for both, each
starting at 384 MiB, min 256 MiB) on their QMP sockets, starts a hot
workload in one of them and prints `tiervm status` while the agent moves
FMEM from the idle VM to the busy one.

Act 3 - placement inside one guest: boots a guest with FMEM 512 MiB and
SMEM 1 GiB, starts hplaced (accessed-bit source), runs a workload that
puts a 64 MiB hot region on SMEM, fills FMEM with cold data and hammers
the hot region (after 30 s the hot set moves to a second region, also on
SMEM), and prints every 2 s how much of the hot region is on FMEM and
hplaced's promotion/demotion counters.

Writes results/demo.json: steps[] (act 1: t_s, node, target_mib,
converged_s, per-node rows) and agent (act 2: budget_mib, series[] of
{t_s, vms: {name: {fmem_target_mib, fmem_actual_mib, hot_mib}}},
target_sets, max_sum_fmem_target_mib) and placement (act 3: series[] of
{t_s, phase, hot_on_fmem_pct, promoted_pages, demoted_pages}).

usage: demo.py [--act 1|2|3|all]; the act-2/3 programs come from TIERVM_BUILD
(the CMake build tree, scripts/demo.sh builds them).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
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


def act1(env, accel):
    print("TierVM demo, act 1: booting a 2-node tiered guest under %s" % accel)
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
    return steps


AGENT_BUDGET_MIB = 1024
AGENT_START_MIB = 384
AGENT_MIN_MIB = 256
AGENT_HOT_MIB = 800
AGENT_MAX_S = 240


def build_bin(build, *rel):
    path = os.path.join(build, *rel)
    if not os.path.isfile(path):
        raise rig.RigError("%s missing: build it first (scripts/demo.sh does)"
                           % path)
    return path


def act2(env, accel):
    build = os.environ.get("TIERVM_BUILD") or os.path.join(
        os.path.dirname(__file__), "..", "build")
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
    # The idle VM sorts first: before any telemetry the two look alike and
    # the policy's tie goes to it, so what follows is the telemetry's doing.
    idle, busy = "vm1-idle", "vm2-busy"
    names = (idle, busy)
    guests, agent = {}, None
    out = {"budget_mib": AGENT_BUDGET_MIB, "series": []}
    try:
        for name in names:
            print("booting guest %s (1 GiB FMEM + 1 GiB SMEM, hplaced)" % name)
            sys.stdout.flush()
            g = rig.Guest(env, "demo-" + name, nodes_mib=(1024, 1024), smp=1,
                          overlay={"/bin/hplaced": hplaced,
                                   "/bin/hotset": hotset},
                          extra_args=["-qmp", "unix:%s/%s.sock,server=on,"
                                      "wait=off" % (qmp_dir, name)])
            g.start()
            guests[name] = g
            balloon = (1024 - AGENT_START_MIB) * MIB
            g.hb_set_target(0, balloon)
            g.hb_wait_actual(0, balloon, timeout=180)
            g.run("echo 0 > /proc/sys/kernel/numa_balancing", check=False)
            g.run("hplaced --log-level=warn > /dev/null 2>&1 &")
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
              " each starts at %d MiB)" % (conf, AGENT_BUDGET_MIB,
                                           AGENT_START_MIB))
        agent = subprocess.Popen([agent_bin, "--config", conf],
                                 stdout=open(os.path.join(work, "agent.log"),
                                             "w"), stderr=subprocess.STDOUT)

        def status_json():
            r = subprocess.run([cli, "--socket", sock, "status", "--json"],
                               capture_output=True, text=True, timeout=30)
            return json.loads(r.stdout) if r.returncode == 0 else None

        def show_status(t):
            r = subprocess.run([cli, "--socket", sock, "status"],
                               capture_output=True, text=True, timeout=30)
            print("\n$ tiervm status        (t=%.0fs)" % t)
            print(r.stdout if r.returncode == 0 else r.stderr, end="")
            sys.stdout.flush()

        for _ in range(30):
            time.sleep(1)
            if status_json():
                break
        time.sleep(5)
        show_status(0)
        print("\n>>> starting a hot workload (%d MiB, random accesses) in %s"
              % (AGENT_HOT_MIB, busy))
        guests[busy].run("hotset --hot-mib %d --phase-s %d --phases 1 "
                           "--report-ms 10000 > /tmp/hotset.log 2>&1 &" %
                           (AGENT_HOT_MIB, AGENT_MAX_S + 120))
        t0 = time.monotonic()
        last_show, settled = 0, None
        idle_peak = AGENT_START_MIB * MIB
        while time.monotonic() - t0 < AGENT_MAX_S:
            time.sleep(2)
            t = time.monotonic() - t0
            st = status_json()
            if not st:
                continue
            vms = {v["vm"]: v for v in st["vms"]}
            out["series"].append({"t_s": round(t, 1), "vms": {
                n: {"fmem_target_mib": v["fmem_target_bytes"] // MIB,
                    "fmem_actual_mib": v["fmem_actual_bytes"] // MIB,
                    "hot_mib": v["hot_bytes"] // MIB}
                for n, v in vms.items()}})
            if t - last_show >= 10:
                show_status(t)
                last_show = t
            b, i = vms.get(busy), vms.get(idle)
            if i:
                idle_peak = max(idle_peak, i["fmem_target_bytes"])
            if settled is None and b and i and b["hot_bytes"] > 0 and \
                    b["fmem_actual_bytes"] >= (AGENT_START_MIB + 128) * MIB and \
                    b["fmem_actual_bytes"] > i["fmem_actual_bytes"] and \
                    i["fmem_target_bytes"] < idle_peak and \
                    b["state"] == "idle" and i["state"] == "idle":
                settled = t
                if last_show != t:
                    show_status(t)
                last_show = t
                print("    FMEM moved to %s in %.0f s; watching 30 s more" %
                      (busy, t))
            if settled is not None and t - settled >= 30:
                if last_show != t:
                    show_status(t)
                break
        out["moved_s"] = settled
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        agent = None
    finally:
        if agent is not None:
            agent.kill()
        for g in guests.values():
            try:
                g.stop()
            except Exception:
                pass
    sets = rig.read_jsonl(target_log)
    out["target_sets"] = sets
    out["max_sum_fmem_target_mib"] = max(
        [s["sum_fmem_target_bytes"] // MIB for s in sets] or [0])
    print("\nthe agent set %d targets; the sum of FMEM targets never exceeded"
          " %d MiB (budget %d MiB); log: %s" % (
              len(sets), out["max_sum_fmem_target_mib"], AGENT_BUDGET_MIB,
              target_log))
    return out


# Act 3.  hplaced's budget under TCG: see TCG_BUDGET_PCT in
# tests/vm/test_hplace_residency.py (the guest kernel's share of the work
# runs 10-50x slower under TCG than on hardware); 1 % under KVM.
ACT3_PHASE_S = 30
ACT3_TCG_BUDGET_PCT = 2


def act3(env, accel):
    build = os.environ.get("TIERVM_BUILD") or os.path.join(
        os.path.dirname(__file__), "..", "build")
    hplaced = build_bin(build, "guest-driver", "daemon", "hplaced", "hplaced")
    hotset = build_bin(build, "tests", "vm", "hplace_hotset")
    budget = 1.0 if env.get("KVM_USABLE") == "1" else ACT3_TCG_BUDGET_PCT
    print("\nTierVM demo, act 3: hplaced keeping a moving hot set on FMEM "
          "under %s (budget %g %% of a vCPU)" % (accel, budget))
    out = {"budget_pct": budget, "phase_s": ACT3_PHASE_S, "series": []}
    with rig.Guest(env, "demo-place", nodes_mib=(512, 1024),
                   overlay={"/bin/hplaced": hplaced,
                            "/bin/hotset": hotset}) as g:
        g.run("echo 0 > /proc/sys/kernel/numa_balancing", check=False)
        g.run("printf '[budget]\\nbudget_pct = %g\\n' > /tmp/hplaced.toml"
              % budget)
        g.run("hplaced --config=/tmp/hplaced.toml --status-file=/tmp/hp.json "
              "> /dev/null 2> /tmp/hp.err &")
        g.run("hotset --hot-mib 64 --phase-s %d --phases 2 --report-ms 1000 "
              "> /tmp/hot.log 2>&1 &" % ACT3_PHASE_S)
        print("%6s %6s %16s %10s %10s" % ("t_s", "phase", "hot on FMEM",
                                          "promoted", "demoted"))
        deadline = time.monotonic() + 2 * ACT3_PHASE_S + 120
        shown = 0
        while time.monotonic() < deadline:
            time.sleep(2)
            lines = [l for l in g.run("cat /tmp/hot.log").splitlines()
                     if l.startswith("{")]
            rows = [json.loads(l) for l in lines]
            series = [r for r in rows if "phase" in r]
            rc, st = g.run("cat /tmp/hp.json", check=False)
            st = json.loads(st) if rc == 0 and st.strip() else {}
            if len(series) > shown:
                r = series[-1]
                shown = len(series)
                total = r["node0"] + r["node1"] + r["other"]
                pct = 100.0 * r["node0"] / total if total else 0.0
                row = {"t_s": r["t_s"], "phase": r["phase"],
                       "hot_on_fmem_pct": round(pct, 1),
                       "promoted_pages": st.get("promoted_pages"),
                       "demoted_pages": st.get("demoted_pages")}
                out["series"].append(row)
                print("%6.1f %6d %15.1f%% %10s %10s" % (
                    r["t_s"], r["phase"], pct, row["promoted_pages"],
                    row["demoted_pages"]))
                sys.stdout.flush()
            if g.run("pidof hotset > /dev/null; echo $?") != "0":
                break
        out["hplaced_status"] = st
    return out


def main():
    act = "all"
    if len(sys.argv) > 2 and sys.argv[1] == "--act":
        act = sys.argv[2]
    env = rig.load_env()
    accel = "KVM" if env.get("KVM_USABLE") == "1" else "TCG (KVM not usable)"
    result = {"accel": accel}
    if act in ("1", "all"):
        result["steps"] = act1(env, accel)
    if act in ("2", "all"):
        result["agent"] = act2(env, accel)
    if act in ("3", "all"):
        result["placement"] = act3(env, accel)
    path = rig.write_result("demo", result)
    print("\nwrote %s" % path)


if __name__ == "__main__":
    main()

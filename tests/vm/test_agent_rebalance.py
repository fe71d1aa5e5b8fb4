"""VM test: tiervm-agent moves FMEM from an idle VM to a busy one.

Two TCG guests (6.1 kernel, 1 GiB FMEM node + 1 GiB SMEM node each), both
running the guest placement daemon hplaced, which reports its hotness
curve through /dev/hballoon.  Each QEMU gets a second QMP monitor in one
socket directory (<dir>/<vm>.sock), where the real tiervm-agent binary
finds them.  Host FMEM budget 1 GiB (less than either VM's 1 GiB maximum
plus the other's minimum), per-VM min 256 MiB; both VMs start at 384 MiB
of FMEM.  VM BUSY runs a hot workload (hotset: a HOT_MIB region hammered
with random accesses), VM IDLE runs nothing.  The names sort IDLE first:
without telemetry both VMs look alike to the policy and a tie would go to
IDLE, so a shift to BUSY is the telemetry's doing.

Checks:
  * the agent logs every target it sets (--target-log); replaying that
    log from the targets read back at start, Σ FMEM targets <= budget after
    every single set, and the agent's own sum in each line agrees;
  * FMEM shifts to the busy VM once its telemetry arrives: within RUN_S
    seconds its FMEM actual is at least MIN_GAIN_MIB above its start, its
    target above the idle VM's, and the idle VM's target below the most it
    held during the run (before the busy VM reports, the two look alike and
    the tie goes to the idle VM).  How far it shifts depends on the hot set
    hplaced measures: the idle VM reports no curve, which the policy reads
    as the neutral prior (accesses spread evenly over its maximum), so the
    busy VM gets about its measured hot set and the idle VM the rest;
  * no target command failed, both VMs' telemetry was accepted;
  * `tiervm status --json` works before and after; the agent exits 0 on
    SIGTERM.

Result: results/agent_rebalance.json (fields in host-agent/README.md,
"VM test"); the harness's own checks go to results/vm_agent_rebalance.json.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import rig
import vmtest

MIB = rig.MIB
NODES_MIB = (1024, 1024)
START_FMEM_MIB = 384
BUDGET_MIB = 1024
MIN_MIB = 256
HOT_MIB = 800
MIN_GAIN_MIB = 128
RUN_S = 240
POLL_S = 3
IDLE = "vm1-idle"
BUSY = "vm2-busy"


def status(cli, sock):
    out = subprocess.run([cli, "--socket", sock, "status", "--json"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise rig.RigError("tiervm status failed: %s" % out.stderr)
    return json.loads(out.stdout)


def vm_row(st, name):
    for v in st["vms"]:
        if v["vm"] == name:
            return v
    return None


def body(t):
    agent_bin = os.environ.get("TIERVM_AGENT_BIN")
    cli = os.environ.get("TIERVM_CLI_BIN")
    hplaced = os.environ.get("HPLACED_BIN")
    hotset = os.environ.get("HOTSET_BIN")
    if not (agent_bin and cli and hplaced and hotset):
        raise rig.RigError("TIERVM_AGENT_BIN, TIERVM_CLI_BIN, HPLACED_BIN and "
                           "HOTSET_BIN must name the built programs")
    work = tempfile.mkdtemp(prefix="tiervm-agent-rebalance-")
    qmp_dir = os.path.join(work, "qmp")
    os.makedirs(qmp_dir)
    sock = os.path.join(work, "agent.sock")
    target_log = os.path.join(work, "targets.jsonl")
    agent_log = os.path.join(work, "agent.log")
    result = {"kernel": t.series, "budget_bytes": BUDGET_MIB * MIB,
              "min_fmem_bytes": MIN_MIB * MIB,
              "start_fmem_bytes": START_FMEM_MIB * MIB,
              "hot_mib": HOT_MIB, "series": []}
    guests = {}
    agent = None
    try:
        for name in (BUSY, IDLE):
            g = rig.Guest(t.env, name, series=t.series, nodes_mib=NODES_MIB,
                          smp=1,
                          overlay={"/bin/hplaced": hplaced,
                                   "/bin/hotset": hotset},
                          extra_args=["-qmp", "unix:%s/%s.sock,server=on,"
                                      "wait=off" % (qmp_dir, name)])
            g.start()
            guests[name] = g
            # Start within the budget: the agent must keep it that way.
            balloon = (NODES_MIB[0] - START_FMEM_MIB) * MIB
            g.hb_set_target(0, balloon)
            g.hb_wait_actual(0, balloon, timeout=180)
        # FMEM targets before the agent runs, read back from the devices.
        start = {}
        for name, g in guests.items():
            n = g.hb_node(0)
            start[name] = n["size"] - n["target"]
        result["start"] = start
        t.check("both VMs start at %d MiB of FMEM" % START_FMEM_MIB,
                all(v == START_FMEM_MIB * MIB for v in start.values()), start)
        for name, g in guests.items():
            g.run("echo 0 > /proc/sys/kernel/numa_balancing", check=False)
            g.run("hplaced --log-level=warn --status-file=/tmp/hplaced.json "
                  "> /tmp/hplaced.out 2> /tmp/hplaced.err & "
                  "echo $! > /tmp/hplaced.pid")
        time.sleep(3)
        for name, g in guests.items():
            pid = g.run("cat /tmp/hplaced.pid").strip()
            alive = g.run("kill -0 %s; echo $?" % pid).strip() == "0"
            t.check("hplaced runs in %s" % name, alive,
                    g.run("cat /tmp/hplaced.err", check=False)[-500:])

        with open(os.path.join(work, "agent.toml"), "w") as f:
            f.write('budget = "%dMiB"\n' % BUDGET_MIB)
            f.write('qmp_socket_dir = "%s"\n' % qmp_dir)
            f.write('control_socket = "%s"\n' % sock)
            f.write('metrics_listen = "127.0.0.1:0"\n')
            f.write('target_log = "%s"\n' % target_log)
            f.write('period_ms = 1000\nqmp_timeout_ms = 5000\n')
            f.write('[defaults]\nmin_fmem = "%dMiB"\n' % MIN_MIB)
            # TCG balloons move slowly: give moves time before "stuck".
            f.write('[actuator]\nshrink_timeout_ms = 120000\n'
                    'grow_timeout_ms = 120000\n')
            # The host has GiBs free; keep the M3 levels out of the way.
            f.write('[pressure]\nhigh_free = "64MiB"\nlow_free = "128MiB"\n'
                    'min_low_free = "128MiB"\n')
        agent = subprocess.Popen(
            [agent_bin, "--config", os.path.join(work, "agent.toml")],
            stdout=open(agent_log, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        before = None
        while time.monotonic() < deadline:
            time.sleep(1)
            try:
                before = status(cli, sock)
            except Exception:
                continue
            if all(vm_row(before, n) and vm_row(before, n)["error"] == ""
                   for n in guests):
                break
        t.check("agent answers tiervm status and sees both VMs",
                before is not None and all(vm_row(before, n) for n in guests),
                before)
        result["status_before"] = before

        guests[BUSY].run(
            "hotset --hot-mib %d --phase-s %d --phases 1 --report-ms 10000 "
            "> /tmp/hotset.log 2>&1 &" % (HOT_MIB, RUN_S + 120))

        t0 = time.monotonic()
        shifted_at = None
        idle_peak = start[IDLE]
        while time.monotonic() - t0 < RUN_S:
            time.sleep(POLL_S)
            st = status(cli, sock)
            row = {"t_s": round(time.monotonic() - t0, 1), "vms": {}}
            for n in guests:
                v = vm_row(st, n)
                row["vms"][n] = {k: v[k] for k in (
                    "fmem_target_bytes", "fmem_actual_bytes", "hot_bytes",
                    "smem_share_ppm", "psi_some_ppm", "state",
                    "telemetry_accepted", "telemetry_rejected")}
            row["sum_fmem_target_bytes"] = st["sum_fmem_target_bytes"]
            result["series"].append(row)
            b, i = row["vms"][BUSY], row["vms"][IDLE]
            print("t=%5.1fs busy %4d/%4d MiB hot %4d MiB | idle %4d/%4d MiB"
                  " | sum %4d of %d MiB" % (
                      row["t_s"], b["fmem_target_bytes"] // MIB,
                      b["fmem_actual_bytes"] // MIB, b["hot_bytes"] // MIB,
                      i["fmem_target_bytes"] // MIB,
                      i["fmem_actual_bytes"] // MIB,
                      row["sum_fmem_target_bytes"] // MIB, BUDGET_MIB),
                  flush=True)
            idle_peak = max(idle_peak, i["fmem_target_bytes"])
            if shifted_at is None and \
                    b["fmem_actual_bytes"] >= start[BUSY] + MIN_GAIN_MIB * MIB \
                    and b["fmem_target_bytes"] > i["fmem_target_bytes"] \
                    and i["fmem_target_bytes"] < idle_peak \
                    and b["hot_bytes"] > 0:
                shifted_at = row["t_s"]
                result["shifted_at_s"] = shifted_at
            if shifted_at is not None and row["t_s"] >= shifted_at + 15:
                break
        result["idle_peak_fmem_target_bytes"] = idle_peak
        after = status(cli, sock)
        result["status_after"] = after
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=30)
        agent = None
        t.check("agent exits 0 on SIGTERM", rc == 0, rc)
    finally:
        if agent is not None:
            agent.kill()
            agent.wait()
        for g in guests.values():
            try:
                g.stop()
            except Exception:
                pass

    # -- the agent's own log of every target it set -------------------------
    sets = rig.read_jsonl(target_log)
    result["target_sets"] = sets
    cur = dict(start)
    worst = sum(cur.values())
    replay_ok, agree = True, True
    for s in sets:
        if s["ok"]:
            cur[s["vm"]] = s["fmem_target_bytes"]
        total = sum(cur.values())
        worst = max(worst, total)
        replay_ok &= total <= BUDGET_MIB * MIB
        agree &= s["sum_fmem_target_bytes"] == total
    result["moves"] = len(sets)
    result["max_sum_fmem_target_bytes"] = worst
    t.figure("target_sets", len(sets))
    t.figure("max_sum_fmem_target_mib", worst // MIB)
    t.check("the agent set targets", len(sets) > 0, len(sets))
    t.check("every target set keeps the sum of FMEM targets within the budget "
            "(replayed from the log)", replay_ok, worst // MIB, BUDGET_MIB)
    t.check("the agent's logged sums agree with the replay", agree)
    t.check("no target command failed", all(s["ok"] for s in sets),
            [s for s in sets if not s["ok"]][:3])

    fin = {n: vm_row(result["status_after"], n) for n in (BUSY, IDLE)}
    result["final"] = fin
    t.figure("shifted_at_s", result.get("shifted_at_s"))
    t.figure("busy_fmem_target_mib", fin[BUSY]["fmem_target_bytes"] // MIB)
    t.figure("idle_fmem_target_mib", fin[IDLE]["fmem_target_bytes"] // MIB)
    t.check("FMEM shifted to the busy VM (actual +%d MiB, target above the "
            "idle VM's, idle below its peak) within %d s" % (MIN_GAIN_MIB, RUN_S),
            result.get("shifted_at_s") is not None,
            result.get("shifted_at_s"), RUN_S)
    t.check("at the end the busy VM holds more FMEM than at start and than "
            "the idle VM",
            fin[BUSY]["fmem_target_bytes"] >= start[BUSY] + MIN_GAIN_MIB * MIB
            and fin[BUSY]["fmem_target_bytes"] > fin[IDLE]["fmem_target_bytes"],
            {n: fin[n]["fmem_target_bytes"] // MIB for n in fin})
    t.check("idle VM's FMEM target below its peak, not below its minimum",
            MIN_MIB * MIB <= fin[IDLE]["fmem_target_bytes"] < idle_peak,
            fin[IDLE]["fmem_target_bytes"] // MIB, idle_peak // MIB)
    t.check("both VMs' telemetry accepted",
            all(fin[n]["telemetry_accepted"] > 0 for n in fin),
            {n: fin[n]["telemetry_accepted"] for n in fin})
    t.check("busy VM reported a hot set", fin[BUSY]["hot_bytes"] > 0,
            fin[BUSY]["hot_bytes"] // MIB)
    path = rig.write_result("agent_rebalance", result)
    print("wrote %s" % path)
    if all(c["ok"] for c in t.checks):
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("agent work dir kept: %s" % work)


if __name__ == "__main__":
    vmtest.main("vm_agent_rebalance", body)

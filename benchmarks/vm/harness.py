#!/usr/bin/env python3
"""TierVM VM benchmark harness: scenario file -> guests booted with the
whole stack (tests/vm/rig.py: QEMU with virtio-hballoon, HMAT so that the
SMEM node is a lower memory tier, hballoon.ko) -> a workload inside ->
time series -> results/<scenario>.json and results/<scenario>.png.

Each policy of the scenario gets fresh guests and the same workload; the
workload first places its memory with no tiering active, prints
{"placed":true}, and only then is the policy turned on, so every policy
starts from the same placement.  Policies (guest kernel 6.12):
  none            kernel.numa_balancing=0, demotion off
  numa_balancing  kernel.numa_balancing=2 + demotion_enabled=1 (TPP-style
                  tiering upstream); valid only with numa_hint_faults > 0
                  and pgpromote_success > 0
  damon           DAMOS migrate_hot (node 1 -> 0) and migrate_cold
                  (node 0 -> 1) on paddr; valid only with nr_applied > 0
                  of the migrate_hot scheme
  hplaced         TierVM's guest daemon (<build>/guest-driver/daemon/
                  hplaced/hplaced), "not available" when not built; valid
                  only with pgmigrate_success > 0 and hplaced alive at the
                  end
A run that is not valid is reported "invalid" with its reason (and the
harness exits non-zero); it is never dropped or replaced.

usage: harness.py [--short] [--policies P,..] [--merge] [--build-dir DIR]
                  [--out DIR] [--hballoon-ko KO]
                  [--real-hardware --host-nodes F,S]
                  SCENARIO.toml [SCENARIO.toml ...]
Results: --out (default $TIERVM_RESULTS_DIR, else ./results).  The JSON
fields are documented in benchmarks/README.md ("VM harness").
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "vm"))
sys.path.insert(0, os.path.join(HERE, "harness"))
import rig  # noqa: E402
import guestside  # noqa: E402
import plot  # noqa: E402
import scenario as scenario_mod  # noqa: E402
import sqlite_script  # noqa: E402

MIB = rig.MIB
PLACE_TIMEOUT_S = 900
REDIS_BINS = ("/usr/bin/redis-server",)


class Tools:
    """Host paths of everything the guests need."""

    def __init__(self, build_dir):
        self.build_dir = build_dir
        b = os.path.join(build_dir, "benchmarks", "vm")
        self.gups = os.path.join(b, "vm_gups")
        self.kvzipf = os.path.join(b, "vm_kvzipf")
        self.hplaced = os.path.join(build_dir, "guest-driver", "daemon",
                                    "hplaced", "hplaced")
        self.agent = os.path.join(build_dir, "host-agent", "tiervm-agent")

    def have(self, path):
        return os.path.isfile(path) and os.access(path, os.X_OK)

    def overlay(self, wl, policy, tmpdir, hballoon_ko=None):
        need = {"/bin/gups": self.gups} if wl["kind"] == "gups" else {}
        if wl["kind"] == "redis":
            need = {"/bin/kvzipf": self.kvzipf,
                    "/bin/redis-server": REDIS_BINS[0]}
        if wl["kind"] == "sqlite":
            path = os.path.join(tmpdir, "sqlite.sql")
            with open(path, "w") as f:
                f.write(sqlite_script.script(wl))
            need = {"/bin/sqlite3": "/usr/bin/sqlite3",
                    "/etc/bench/sqlite.sql": path}
        if policy == "hplaced":
            need[guestside.HPLACED_GUEST] = self.hplaced
        if hballoon_ko:
            # replaces the rig initramfs's module (overlay files win)
            need["/lib/hb/hballoon.ko"] = hballoon_ko
        for gpath, hpath in need.items():
            if not os.path.isfile(hpath):
                raise rig.RigError(
                    "%s (for %s) is missing: build targets vm_gups and "
                    "vm_kvzipf (cmake --build BUILD --target vm_gups "
                    "vm_kvzipf) and install redis-server/sqlite3" %
                    (hpath, gpath))
        return need


def host_info():
    info = {"cpus": os.cpu_count(), "kernel": platform.release(),
            "machine": platform.machine()}
    try:
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


class VmRun:
    """One guest of one policy run: its rig.Guest and its time series."""

    def __init__(self, guest, wl):
        self.g = guest
        self.wl = wl
        self.series = []
        self.wlines = []      # parsed workload lines after policy start
        self.seen = 0         # workload log lines consumed
        self.base = None      # vmstat at policy start
        self.last = None      # last parsed sample
        self.wpid = None
        self.errors = []
        self.tick0 = None     # sqlite: first tick (number, epoch)

    def sample(self, policy, hplaced_pid):
        rc, out = self.g.run(guestside.sample_cmd(policy, hplaced_pid),
                             timeout=120, check=False)
        s = guestside.parse_sample(out)
        if not s["complete"] or s["unparsed"]:
            self.errors.append("incomplete sample (rc %d, %d unparsed)" %
                               (rc, s["unparsed"]))
        new = s["wlog"][self.seen:]
        self.seen = len(s["wlog"])
        s["new_lines"] = []
        for line in new:
            try:
                obj = json.loads(line)
            except ValueError:
                if line.strip():
                    self.errors.append("workload: " + line[:200])
                continue
            if isinstance(obj, dict):
                s["new_lines"].append(obj)
        try:
            info = self.g.hb_info()
            s["balloon"] = [{"node": n["node"], "size": n["size"],
                             "target": n["target"], "actual": n["actual"]}
                            for n in info["nodes"]]
        except Exception as e:  # the guest may be gone; keep the series
            s["balloon"] = None
            self.errors.append("query-hballoon: %s" % e)
        return s

    def sqlite_rates(self, lines):
        """Ticks -> {"t_s", "ops_per_s"} (range queries per second)."""
        out = []
        for obj in lines:
            if "tick" not in obj or "epoch_s" not in obj:
                continue
            if self.tick0 is None:
                self.tick0 = (obj["tick"], obj["epoch_s"])
                self.prev = self.tick0
                continue
            dt = obj["epoch_s"] - self.prev[1]
            dticks = obj["tick"] - self.prev[0]
            self.prev = (obj["tick"], obj["epoch_s"])
            if dt > 0:
                out.append({"t_s": round(obj["epoch_s"] - self.tick0[1], 3),
                            "ops_per_s": dticks *
                            sqlite_script.RANGES_PER_TICK / dt})
        return out


class HostAgent:
    """tiervm-agent on the host, over the guests' second QMP sockets in
    DIR/qmp, with the scenario's FMEM budget; its target log (one JSON line
    per balloon target it set) is kept in the result."""

    def __init__(self, binary, tmp, sc):
        self.log = os.path.join(tmp, "agent.log")
        self.targets = os.path.join(tmp, "agent-targets.jsonl")
        self.cmd = [binary, "--qmp-dir", os.path.join(tmp, "qmp"),
                    "--budget", "%dMiB" % sc["agent_budget_mib"],
                    "--control-socket", os.path.join(tmp, "agent.ctl"),
                    "--metrics-listen", "", "--target-log",
                    self.targets] + list(sc["agent_args"])
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=self.out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def stop(self):
        alive = self.proc.poll() is None
        if alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        lines = []
        if os.path.exists(self.targets):
            with open(self.targets, errors="replace") as f:
                lines = [x for x in f.read().splitlines() if x.strip()]
        with open(self.log, errors="replace") as f:
            tail = f.read()[-2000:]
        return {"alive_at_end": alive, "rc": self.proc.returncode,
                "targets_set": len(lines), "target_log": lines[-50:],
                "log_tail": tail}


def delta(cur, base, key):
    if key not in cur or key not in base:
        return None
    return cur[key] - base[key]


def placed(vm):
    rc, out = vm.g.run("cat /tmp/w.log", check=False)
    return any(line.strip() == '{"placed":true}' or
               line.strip().startswith('{"placed"')
               for line in out.splitlines()), out


def make_row(vm, s, t_s, policy):
    base = vm.base
    row = {"t_s": round(t_s, 2)}
    for k in guestside.VMSTAT_KEYS:
        row[k] = delta(s["vmstat"], base["vmstat"], k)
    row["pgdemote"] = sum(row[k] or 0 for k in
                          ("pgdemote_kswapd", "pgdemote_direct",
                           "pgdemote_khugepaged"))
    row["memfree_mib"] = {n: b // MIB for n, b in s["memfree_bytes"]}
    nm = s["numa_maps_bytes"]
    if nm:
        row["rss_mib"] = {n: b // MIB for n, b in nm.items()}
    lines = s["new_lines"]
    if vm.wl["kind"] == "sqlite":
        lines = vm.sqlite_rates(lines)
    lines = [x for x in lines if "ops_per_s" in x]
    vm.wlines.extend(lines)
    if lines:
        row["ops_per_s"] = round(sum(x["ops_per_s"] for x in lines) /
                                 len(lines))
    if vm.wl["kind"] == "gups" and lines:
        last = lines[-1]
        for k in ("hot_fmem_pct", "all_fmem_pct", "hit_share_pct", "phase"):
            row[k] = last.get(k)
        row["residency_pct"] = last.get("hot_fmem_pct")
    elif vm.wl["kind"] != "gups" and nm:
        tot = sum(nm.values())
        row["residency_pct"] = round(100.0 * nm.get(0, 0) / tot, 2) \
            if tot else None
    if s["balloon"]:
        row["balloon"] = s["balloon"]
        for n in s["balloon"]:
            row["balloon_actual_n%d_mib" % n["node"]] = n["actual"] // MIB
    if s["damon"]:
        row["damon"] = s["damon"]
    if s["hplaced_cpu_ticks"] is not None:
        row["hplaced_cpu_ticks"] = s["hplaced_cpu_ticks"]
    return row


def summarize(vm, policy, wall_s):
    rows = vm.series
    if not rows:
        return {}
    last = rows[-1]
    sm = {k: last.get(k) for k in guestside.VMSTAT_KEYS}
    sm["pgdemote"] = last.get("pgdemote")
    ops = [x["ops_per_s"] for x in vm.wlines]
    sm["ops_per_s_mean"] = round(sum(ops) / len(ops)) if ops else None
    res = [r["residency_pct"] for r in rows if r.get("residency_pct")
           is not None]
    sm["residency_pct_mean"] = round(sum(res) / len(res), 2) if res else None
    sm["residency_pct_final"] = res[-1] if res else None
    if vm.wl["kind"] == "gups":
        hs = [x["hit_share_pct"] for x in vm.wlines if "hit_share_pct" in x]
        sm["hit_share_pct_mean"] = round(sum(hs) / len(hs), 2) if hs else None
        sm["time_to_hot90_s"] = time_to_hot90(vm.wlines)
    promoted = (last.get("pgpromote_success") or 0)
    damon = last.get("damon") or {}
    if policy == "damon" and 0 in damon:
        promoted += damon[0].get("sz_applied", 0) // 4096
        sm["damon"] = damon
    sm["promoted_pages"] = promoted if policy != "hplaced" else None
    mig = last.get("pgmigrate_success") or 0
    sm["migrated_per_promoted"] = round(mig / promoted, 3) if promoted \
        else None
    if last.get("hplaced_cpu_ticks") is not None and wall_s > 0:
        hz = 100  # USER_HZ of the x86-64 guest kernels
        sm["hplaced_cpu_pct"] = round(100.0 * last["hplaced_cpu_ticks"] /
                                      hz / wall_s, 2)
    return sm


def time_to_hot90(lines):
    """For each phase: seconds from the phase's first report until the hot
    set is >= 90 % on FMEM (None if never within the phase)."""
    out = []
    cur, start, done = None, None, None
    for x in lines:
        ph = x.get("phase")
        if ph != cur:
            if cur is not None:
                out.append({"phase": cur, "s": done})
            cur, start, done = ph, x["t_s"], None
        if done is None and x.get("hot_fmem_pct", 0) >= 90:
            done = round(x["t_s"] - start, 1)
    if cur is not None:
        out.append({"phase": cur, "s": done})
    return out


def validity(policy, vms, sums, cfg):
    """(valid, reasons) for a policy run; a policy configured into doing
    nothing is invalid, not a win."""
    reasons = []
    for vm, sm in zip(vms, sums):
        name = vm.g.name
        if not vm.series:
            reasons.append("%s: no samples" % name)
            continue
        if policy == "numa_balancing":
            if not sm.get("numa_hint_faults"):
                reasons.append("%s: numa_hint_faults == 0" % name)
            if not sm.get("pgpromote_success"):
                reasons.append("%s: pgpromote_success == 0" % name)
        if policy == "damon":
            d = sm.get("damon", {})
            if not d.get(0, {}).get("nr_applied"):
                reasons.append("%s: migrate_hot nr_applied == 0" % name)
        if policy == "hplaced":
            # Running and sampling is what "configured into doing nothing"
            # rules out.  Sampling and then moving nothing is a result (a
            # hot set it cannot tell apart, e.g. THPs all young between two
            # scan passes): the residency shows it, it is not invalid.
            if not sm.get("hplaced_samples"):
                reasons.append("%s: hplaced took no sample" % name)
            if not cfg.get("hplaced_alive_at_end", {}).get(name):
                reasons.append("%s: hplaced exited early" % name)
        if policy == "none":
            if sm.get("numa_hint_faults") or sm.get("pgmigrate_success"):
                reasons.append("%s: pages moved with no tiering (%s hint "
                               "faults, %s migrated)" % (
                                   name, sm.get("numa_hint_faults"),
                                   sm.get("pgmigrate_success")))
        if not vm.wlines:
            reasons.append("%s: workload reported nothing" % name)
    return not reasons, reasons


def run_policy(sc, policy, tools, opts, env):
    res = {"status": "ok", "reasons": [], "vms": []}
    if policy == "hplaced" and not tools.have(tools.hplaced):
        res["status"] = "not available"
        res["reasons"] = ["hplaced not built (%s missing)" % tools.hplaced]
        return res
    vmc = sc["vm"]
    tmp = tempfile.mkdtemp(prefix="tiervm-harness-")
    overlay = tools.overlay(sc["workload"], policy, tmp, opts.hballoon_ko)
    guests = []
    vms = []
    agent = None
    t_start = time.monotonic()
    try:
        for i in range(vmc["count"]):
            name = "%s-%s-%d" % (sc["name"][:12], policy[:6], i)
            extra = []
            if sc["agent"]:
                # A second QMP monitor for the agent: the rig keeps its own
                # connection to qmp.sock, and a QMP socket serves one client.
                extra = ["-qmp", "unix:%s,server=on,wait=off" %
                         os.path.join(tmp, "qmp", name + ".sock")]
                os.makedirs(os.path.join(tmp, "qmp"), exist_ok=True)
            g = rig.Guest(env, name,
                          series=sc["kernel"],
                          nodes_mib=(vmc["fmem_mib"], vmc["smem_mib"]),
                          smp=sc["smp"], overlay=overlay, hmat=True,
                          host_nodes=opts.host_nodes,
                          kvm_pmu=opts.real_hardware, extra_args=extra)
            guests.append(g)
            g.start()
            vms.append(VmRun(g, sc["workload"]))
        for vm in vms:
            tiers = guestside.tier_of_nodes(vm.g)
            vm.tiers = tiers
            if tiers.get(0) is None or tiers.get(0) == tiers.get(1):
                raise rig.RigError("SMEM node 1 is not in a lower memory "
                                   "tier: %r" % tiers)
            guestside.set_baseline(vm.g)
            vm.wpid = guestside.workload_start(vm.g, sc["workload"],
                                               sc["duration_s"])
        deadline = time.monotonic() + PLACE_TIMEOUT_S
        for vm in vms:
            while True:
                ok, out = placed(vm)
                if ok:
                    break
                if time.monotonic() > deadline or vm.g.run(
                        "kill -0 %d" % vm.wpid, check=False)[0] != 0:
                    raise rig.RigError("workload did not place its memory:"
                                       " %s" % out[-400:])
                time.sleep(1)
        res["placement_s"] = round(time.monotonic() - t_start, 1)
        hp = {}
        for vm in vms:
            s0 = vm.sample(policy, None)
            vm.base = s0
            res["policy_config"] = guestside.start_policy(
                vm.g, policy, sc["hplaced_args"])
            hp[vm.g.name] = res["policy_config"].get("hplaced_pid")
        if sc["agent"]:
            agent = HostAgent(tools.agent, tmp, sc)
            res["agent_cmd"] = agent.cmd
        t0 = time.monotonic()
        end = t0 + sc["duration_s"]
        while True:
            now = time.monotonic()
            for vm in vms:
                s = vm.sample(policy, hp[vm.g.name])
                vm.series.append(make_row(vm, s, time.monotonic() - t0,
                                          policy))
            if now >= end + 2:
                break
            time.sleep(max(0.0, min(sc["sample_s"] - (time.monotonic() -
                                                      now), end + 2 - now)))
        wall = time.monotonic() - t0
        if agent:
            res["agent"] = agent.stop()
        alive = {}
        for vm in vms:
            if hp[vm.g.name]:
                alive[vm.g.name] = vm.g.run("kill -0 %d" % hp[vm.g.name],
                                            check=False)[0] == 0
                vm.hplaced_log_tail = vm.g.run(
                    "tail -20 /tmp/hplaced.log", check=False)[1]
                st = vm.g.run("cat /tmp/hplaced.status", check=False)[1]
                try:
                    vm.hplaced_status = json.loads(st)
                except ValueError:
                    vm.hplaced_status = None
                # single-VM layout kept at the policy level
                res["hplaced_status"] = vm.hplaced_status
                res["hplaced_log_tail"] = vm.hplaced_log_tail
        sums = [summarize(vm, policy, wall) for vm in vms]
        for vm, sm in zip(vms, sums):
            # hplaced counts its own promotions (pages landed on FMEM)
            st = getattr(vm, "hplaced_status", None)
            if isinstance(st, dict) and isinstance(st.get("samples"), int):
                sm["hplaced_samples"] = st["samples"]
            if isinstance(st, dict) and isinstance(
                    st.get("promoted_pages"), int):
                sm["promoted_pages"] = st["promoted_pages"]
                if st["promoted_pages"]:
                    sm["migrated_per_promoted"] = round(
                        (sm.get("pgmigrate_success") or 0) /
                        st["promoted_pages"], 3)
        valid, reasons = validity(policy, vms, sums,
                                  {"hplaced_alive_at_end": alive})
        if agent:
            if not res["agent"]["alive_at_end"]:
                valid = False
                reasons.append("tiervm-agent exited early (rc %s)" %
                               res["agent"]["rc"])
            if not res["agent"]["targets_set"]:
                valid = False
                reasons.append("tiervm-agent set no balloon target")
        res["status"] = "ok" if valid else "invalid"
        res["reasons"] = reasons
        res["duration_s"] = round(wall, 1)
        for vm, sm in zip(vms, sums):
            entry = {"name": vm.g.name, "tiers": vm.tiers, "summary": sm,
                     "series": vm.series, "errors": vm.errors[:20]}
            if hasattr(vm, "hplaced_status"):
                entry["hplaced_status"] = vm.hplaced_status
                entry["hplaced_log_tail"] = vm.hplaced_log_tail
            res["vms"].append(entry)
    except Exception as e:
        res["status"] = "failed"
        res["reasons"] = ["%s: %s" % (type(e).__name__, e)]
        for vm in vms:
            res["vms"].append({"name": vm.g.name, "series": vm.series,
                               "errors": vm.errors[:20]})
            vm.g.dump_logs(20)
    finally:
        if agent and agent.proc.poll() is None:
            agent.stop()
        for g in guests:
            g.stop()
    return res


def run_scenario(path, opts, tools, env):
    # hplaced runs at its shipped defaults (plus what a scenario's
    # hplaced_args name), under TCG too: its budget never makes it inert.
    sc = scenario_mod.load(path, short=opts.short)
    policies = [p for p in sc["policies"]
                if not opts.policies or p in opts.policies]
    result = {"scenario": sc["name"], "config": sc, "short": opts.short,
              "mode": "real-hardware (KVM, -cpu host,pmu=on)" if
              opts.real_hardware else ("kvm" if env.get("KVM_USABLE") == "1"
                                       else "tcg"),
              "host": host_info(),
              "started_utc": datetime.datetime.utcnow().strftime(
                  "%Y-%m-%dT%H:%M:%SZ"),
              "status": "ok", "policies": {}}
    out = opts.out or rig.results_dir()
    path_json = os.path.join(out, sc["name"] + ".json")
    if opts.merge and os.path.exists(path_json):
        # Keep the other policies of an earlier run of the same scenario
        # (e.g. hplaced re-run after it was built); refuse a different one.
        with open(path_json) as f:
            old = json.load(f)
        same = ("kernel", "duration_s", "sample_s", "vm", "workload",
                "agent", "agent_budget_mib")
        oc, nc = old.get("config", {}), json.loads(json.dumps(sc))
        if any(oc.get(k, nc[k]) != nc[k] for k in same) or \
                old.get("short") != opts.short:
            raise SystemExit("--merge: %s was written for another scenario "
                             "config; not merging" % path_json)
        for p, pr in old.get("policies", {}).items():
            if p not in policies:
                result["policies"][p] = pr
        result["merged_from"] = old.get("started_utc")
    if sc["agent"] and not tools.have(tools.agent):
        # The multi-VM scenario is about the host agent; running it
        # without the agent would measure something else.
        result["status"] = "agent not available"
        result["reason"] = "tiervm-agent not built (%s missing)" % tools.agent
        for p in policies:
            result["policies"][p] = {"status": "agent not available",
                                     "reasons": [result["reason"]],
                                     "vms": []}
    else:
        for p in policies:
            print("[%s] %s: running" % (sc["name"], p), flush=True)
            r = run_policy(sc, p, tools, opts, env)
            result["policies"][p] = r
            print("[%s] %s: %s %s" % (sc["name"], p, r["status"],
                                      "; ".join(r["reasons"])), flush=True)
            for vm in r["vms"]:
                print("    %s %s" % (vm["name"], json.dumps(
                    {k: v for k, v in vm.get("summary", {}).items()
                     if k not in ("damon", "time_to_hot90_s")})),
                      flush=True)
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, sc["name"] + ".png")
    png_path, why = plot.plot(result, out, png)
    result["plot"] = os.path.basename(png_path) if png_path else None
    if why:
        result["plot_error"] = why
    result["policies"] = {p: result["policies"][p] for p in
                          scenario_mod.POLICIES if p in result["policies"]}
    with open(path_json + ".tmp", "w") as f:
        json.dump(result, f, indent=1, sort_keys=True, default=str)
        f.write("\n")
    os.replace(path_json + ".tmp", path_json)
    print("[%s] -> %s%s" % (sc["name"], path_json,
                            " + " + png_path if png_path else ""))
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--short", action="store_true",
                    help="apply each scenario's [short] overrides (CI)")
    ap.add_argument("--policies", default="",
                    help="comma-separated subset of the scenario's policies")
    ap.add_argument("--build-dir", default=os.environ.get("TIERVM_BUILD_DIR",
                                                          "build"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--real-hardware", action="store_true",
                    help="KVM with -cpu host,pmu=on and host NUMA binding")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other policies' results of an earlier "
                    "run of the same scenario in the JSON and plot")
    ap.add_argument("--hballoon-ko", default=None,
                    help="hballoon.ko to use instead of the rig's (a rig "
                    "prepared before a driver change)")
    ap.add_argument("--host-nodes", default=None,
                    help="host NUMA nodes backing guest node 0,1 (e.g. 0,2)")
    opts = ap.parse_args()
    opts.policies = [p for p in opts.policies.split(",") if p]
    for p in opts.policies:
        if p not in scenario_mod.POLICIES:
            ap.error("unknown policy %r" % p)
    if opts.host_nodes is not None:
        try:
            opts.host_nodes = [int(x) for x in opts.host_nodes.split(",")]
        except ValueError:
            ap.error("--host-nodes takes two integers, e.g. 0,2")
        if len(opts.host_nodes) != 2 or min(opts.host_nodes) < 0:
            ap.error("--host-nodes takes two integers, e.g. 0,2")
    if opts.real_hardware and opts.host_nodes is None:
        ap.error("--real-hardware needs --host-nodes FMEM_NODE,SMEM_NODE")
    if opts.hballoon_ko and not os.path.isfile(opts.hballoon_ko):
        ap.error("--hballoon-ko: %s not found" % opts.hballoon_ko)
    env = rig.load_env()
    if opts.real_hardware and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("--real-hardware: /dev/kvm is not usable here")
    # Check every scenario file before booting anything.
    try:
        for path in opts.scenarios:
            scenario_mod.load(path, short=opts.short)
    except scenario_mod.ScenarioError as e:
        sys.exit("harness: %s" % e)
    tools = Tools(os.path.abspath(opts.build_dir))
    bad = 0
    for path in opts.scenarios:
        r = run_scenario(path, opts, tools, env)
        for p, pr in r["policies"].items():
            if pr["status"] in ("invalid", "failed"):
                bad += 1
    print("harness: %d policy run(s) invalid or failed" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""What the VM harness does inside one guest: set a tiering policy up,
start a workload, and take one sample (vmstat, workload lines, process
residency, DAMON scheme stats, hplaced CPU) per guest command.

Every guest command goes through rig.Guest.run (the agent on ttyS1), one
line each.  Nothing here trusts guest output: a sample that does not parse
is recorded as an error in the series instead of a number.
"""

import re
import shlex

VMSTAT_KEYS = ("numa_hint_faults", "numa_hint_faults_local",
               "numa_pte_updates", "numa_pages_migrated",
               "pgpromote_success", "pgpromote_candidate",
               "pgdemote_kswapd", "pgdemote_direct", "pgdemote_khugepaged",
               "pgmigrate_success", "pgmigrate_fail", "thp_migration_success")
DAMON = "/sys/kernel/mm/damon/admin/kdamonds"
HPLACED_GUEST = "/bin/hplaced"
TIERING = "/sys/devices/virtual/memory_tiering"

# DAMON parameters (benchmarks/README.md explains the choice): sampling
# every 10 ms, aggregation every 200 ms (so nr_accesses counts 0..20),
# regions re-split every 2 s; a hot region is one seen accessed in at least
# 5 of 20 samples (25 %); a cold one in at most 1 of 20 (5 %) for >= 2 s
# (10 aggregations).  A stricter "never accessed" cold rule demotes almost
# nothing under a workload with a uniform background (GUPS, Zipf tails),
# FMEM then stays full and every migrate_hot fails or, on 6.12, lands on
# another node than target_nid.
# Both schemes may move 64 MiB per second, about what NUMA balancing moves
# here (its default 256 MiB per scan period minus the pages it skips).
DAMON_SAMPLE_US = 10000
DAMON_AGGR_US = 200000
DAMON_UPDATE_US = 2000000
DAMON_HOT_MIN_ACCESSES = 5
DAMON_COLD_MAX_ACCESSES = 1
DAMON_COLD_MIN_AGE = 5
DAMON_QUOTA_BYTES = 128 << 20
DAMON_QUOTA_RESET_MS = 1000


class GuestSideError(Exception):
    pass


def tier_of_nodes(g):
    """{node: memory tier name} from /sys/devices/virtual/memory_tiering."""
    out = g.run("for d in %s/memory_tier*; do echo ${d##*/} $(cat "
                "$d/nodelist); done" % TIERING, check=False)[1]
    tiers = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith("memory_tier"):
            continue
        for node in expand_nodelist(parts[1]):
            tiers[node] = parts[0]
    return tiers


def expand_nodelist(text):
    nodes = []
    for part in text.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m:
            continue
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        nodes.extend(range(lo, hi + 1))
    return nodes


def node_phys_range(g, node):
    """[start, end) physical bytes spanned by node's memory blocks."""
    out = g.run("cat /sys/devices/system/memory/block_size_bytes; "
                "ls -d /sys/devices/system/node/node%d/memory[0-9]*" % node)
    lines = out.split()
    block = int(lines[0], 16)
    ids = sorted(int(re.search(r"memory(\d+)$", p).group(1))
                 for p in lines[1:])
    if not ids:
        raise GuestSideError("node %d has no memory blocks" % node)
    return ids[0] * block, (ids[-1] + 1) * block


def set_baseline(g):
    """Every run starts with no tiering: NUMA balancing off, demotion off,
    so the workload's initial placement is the same for every policy."""
    g.run("echo 0 > /proc/sys/kernel/numa_balancing; "
          "echo 0 > /sys/kernel/mm/numa/demotion_enabled")


def start_policy(g, policy, hplaced_args=()):
    """Turns `policy` on; returns a dict of what was set (for the JSON)."""
    if policy == "none":
        return {"numa_balancing": 0, "demotion_enabled": 0}
    if policy == "numa_balancing":
        g.run("echo 2 > /proc/sys/kernel/numa_balancing; "
              "echo 1 > /sys/kernel/mm/numa/demotion_enabled")
        got = g.run("cat /proc/sys/kernel/numa_balancing "
                    "/sys/kernel/mm/numa/demotion_enabled").split()
        if got != ["2", "true"]:
            raise GuestSideError("NUMA balancing tiering not enabled: %r" %
                                 got)
        return {"numa_balancing": 2, "demotion_enabled": 1,
                "promote_rate_limit_MBps": int(g.run(
                    "cat /proc/sys/kernel/numa_balancing_promote_rate_limit"
                    "_MBps"))}
    if policy == "damon":
        return start_damon(g)
    if policy == "hplaced":
        # status JSON after every tick (its README); run length is the
        # harness's, so hplaced is simply left running until the VM stops.
        cmd = " ".join(shlex.quote(a) for a in [
            HPLACED_GUEST, "--status-file=/tmp/hplaced.status"] +
            list(hplaced_args))
        pid = g.run("%s > /tmp/hplaced.log 2>&1 & echo $!" % cmd).strip()
        if not pid.isdigit():
            raise GuestSideError("hplaced did not start: %r" % pid)
        return {"hplaced_pid": int(pid), "hplaced_args": list(hplaced_args)}
    raise GuestSideError("unknown policy " + policy)


def _damon_kdamond(k, ops_range, action, target_nid, pattern):
    """Shell commands configuring kdamond k (6.12 sysfs layout,
    Documentation/admin-guide/mm/damon/usage.rst)."""
    K = "%s/%d" % (DAMON, k)
    C = K + "/contexts/0"
    S = C + "/schemes/0"
    start, end = ops_range
    w = []

    def put(val, path):
        w.append("echo %s > %s" % (val, path))
    put(1, K + "/contexts/nr_contexts")
    put("paddr", C + "/operations")
    put(DAMON_SAMPLE_US, C + "/monitoring_attrs/intervals/sample_us")
    put(DAMON_AGGR_US, C + "/monitoring_attrs/intervals/aggr_us")
    put(DAMON_UPDATE_US, C + "/monitoring_attrs/intervals/update_us")
    put(10, C + "/monitoring_attrs/nr_regions/min")
    put(1000, C + "/monitoring_attrs/nr_regions/max")
    put(1, C + "/targets/nr_targets")
    put(1, C + "/targets/0/regions/nr_regions")
    put(start, C + "/targets/0/regions/0/start")
    put(end, C + "/targets/0/regions/0/end")
    put(1, C + "/schemes/nr_schemes")
    put(action, S + "/action")
    put(target_nid, S + "/target_nid")
    for key, (lo, hi) in pattern.items():
        put(lo, "%s/access_pattern/%s/min" % (S, key))
        put(hi, "%s/access_pattern/%s/max" % (S, key))
    put(0, S + "/quotas/ms")
    put(DAMON_QUOTA_BYTES, S + "/quotas/bytes")
    put(DAMON_QUOTA_RESET_MS, S + "/quotas/reset_interval_ms")
    return w


def start_damon(g):
    """Two kdamonds on physical addresses (paddr ops): one watches node 1
    (SMEM) and promotes hot regions to node 0 with DAMOS_MIGRATE_HOT, the
    other watches node 0 (FMEM) and demotes cold regions to node 1 with
    DAMOS_MIGRATE_COLD.  Both started with state=on."""
    have = g.run("ls %s/.. && echo ok" % DAMON, check=False)
    if have[0] != 0:
        raise GuestSideError("no DAMON sysfs in the guest")
    n0 = node_phys_range(g, 0)
    n1 = node_phys_range(g, 1)
    big = 4294967295
    hot = {"sz": (4096, 1 << 40),
           "nr_accesses": (DAMON_HOT_MIN_ACCESSES, big), "age": (0, big)}
    cold = {"sz": (4096, 1 << 40),
            "nr_accesses": (0, DAMON_COLD_MAX_ACCESSES),
            "age": (DAMON_COLD_MIN_AGE, big)}
    cmds = ["echo 2 > %s/nr_kdamonds" % DAMON]
    cmds += _damon_kdamond(0, n1, "migrate_hot", 0, hot)
    cmds += _damon_kdamond(1, n0, "migrate_cold", 1, cold)
    cmds += ["echo on > %s/0/state" % DAMON, "echo on > %s/1/state" % DAMON]
    g.run(" && ".join(cmds))
    states = g.run("cat %s/0/state %s/1/state" % (DAMON, DAMON)).split()
    if states != ["on", "on"]:
        raise GuestSideError("kdamonds not running: %r" % states)
    return {"kdamonds": [
        {"ops": "paddr", "range": list(n1), "action": "migrate_hot",
         "target_nid": 0, "access_pattern": {k: list(v) for k, v in
                                             hot.items()}},
        {"ops": "paddr", "range": list(n0), "action": "migrate_cold",
         "target_nid": 1, "access_pattern": {k: list(v) for k, v in
                                             cold.items()}}],
        "sample_us": DAMON_SAMPLE_US, "aggr_us": DAMON_AGGR_US,
        "update_us": DAMON_UPDATE_US, "quota_bytes": DAMON_QUOTA_BYTES,
        "quota_reset_ms": DAMON_QUOTA_RESET_MS}


# -- workloads -------------------------------------------------------------
def workload_start(g, wl, duration_s):
    """Starts the workload in the background; its JSON lines go to
    /tmp/w.log.  Returns the shell pid of the workload's driver."""
    if wl["kind"] == "gups":
        args = ["/bin/gups", "--mib", wl["mib"], "--hot-mib", wl["hot_mib"],
                "--hot-pct", wl["hot_pct"], "--regions", wl["regions"],
                "--phase-s", wl["phase_s"], "--duration-s", duration_s,
                "--report-ms", 2000, "--seed", wl["seed"]]
        if wl["hot_on_smem"]:
            args.append("--hot-on-smem")
        cmd = " ".join(str(a) for a in args)
    elif wl["kind"] == "redis":
        # The server's pid goes to /tmp/w.pid2 for numa_maps; kvzipf loads
        # the keys, prints {"placed":true}, then runs the Zipfian GETs.
        cmd = ("(redis-server --port 0 --unixsocket /tmp/redis.sock "
               "--save '' --appendonly no --daemonize yes "
               "--pidfile /tmp/w.pid2 --logfile /tmp/redis.log && "
               "for i in $(seq 50); do [ -S /tmp/redis.sock ] && break; "
               "sleep 0.2; done && "
               "kvzipf --socket /tmp/redis.sock --keys %d --value-bytes %d "
               "--load && echo '{\"placed\":true}' && "
               "kvzipf --socket /tmp/redis.sock --keys %d --run "
               "--duration-s %d --theta %s --report-ms 2000)" % (
                   wl["keys"], wl["value_bytes"], wl["keys"], duration_s,
                   wl["theta"]))
    elif wl["kind"] == "sqlite":
        cmd = "sqlite3 :memory: < /etc/bench/sqlite.sql"
    else:
        raise GuestSideError("unknown workload " + wl["kind"])
    pid = g.run("%s > /tmp/w.log 2>&1 & echo $!" % cmd).strip()
    if not pid.isdigit():
        raise GuestSideError("workload did not start: %r" % pid)
    if wl["kind"] == "sqlite":
        g.run("echo %s > /tmp/w.pid2" % pid)
    return int(pid)


def sample_cmd(policy, hplaced_pid):
    """One shell line printing every section a sample needs."""
    parts = ["echo @@vmstat", "cat /proc/vmstat",
             "echo @@meminfo",
             "grep -h MemFree /sys/devices/system/node/node*/meminfo",
             "echo @@numa_maps",
             # per-node pages of the workload's main process (redis-server
             # or sqlite3), with each mapping's page size
             "[ -f /tmp/w.pid2 ] && cat /proc/$(cat /tmp/w.pid2)/numa_maps",
             "echo @@wlog", "cat /tmp/w.log"]
    if policy == "damon":
        parts += ["echo update_schemes_stats > %s/0/state" % DAMON,
                  "echo update_schemes_stats > %s/1/state" % DAMON,
                  "echo @@damon"]
        for k in (0, 1):
            for f in ("nr_tried", "sz_tried", "nr_applied", "sz_applied",
                      "qt_exceeds"):
                parts.append("echo %d %s $(cat %s/%d/contexts/0/schemes/0/"
                             "stats/%s)" % (k, f, DAMON, k, f))
    if policy == "hplaced" and hplaced_pid:
        parts += ["echo @@hplaced", "cat /proc/%d/stat" % hplaced_pid]
    parts.append("echo @@end")
    return "; ".join(parts)


def parse_sample(text):
    """Sections of a sample_cmd output -> dict.  Lines that do not parse
    are counted in `unparsed`, not guessed at."""
    sec = None
    s = {"vmstat": {}, "memfree_bytes": [], "numa_maps_bytes": {},
         "wlog": [], "damon": {}, "hplaced_cpu_ticks": None, "unparsed": 0,
         "complete": False}
    for line in text.splitlines():
        if line.startswith("@@"):
            sec = line[2:].strip()
            if sec == "end":
                s["complete"] = True
            continue
        try:
            if sec == "vmstat":
                k, v = line.split()
                if k in VMSTAT_KEYS:
                    s["vmstat"][k] = int(v)
            elif sec == "meminfo":
                m = re.match(r"Node (\d+) MemFree:\s+(\d+) kB", line)
                s["memfree_bytes"].append((int(m.group(1)),
                                           int(m.group(2)) * 1024))
            elif sec == "numa_maps":
                psize = 4096
                m = re.search(r"kernelpagesize_kB=(\d+)", line)
                if m:
                    psize = int(m.group(1)) * 1024
                for n, pages in re.findall(r"\bN(\d+)=(\d+)", line):
                    s["numa_maps_bytes"][int(n)] = \
                        s["numa_maps_bytes"].get(int(n), 0) + \
                        int(pages) * psize
            elif sec == "wlog":
                if line.strip():
                    s["wlog"].append(line)
            elif sec == "damon":
                k, f, v = line.split()
                s["damon"].setdefault(int(k), {})[f] = int(v)
            elif sec == "hplaced":
                # /proc/PID/stat: comm may hold spaces; fields after ')'
                rest = line.rsplit(")", 1)[1].split()
                s["hplaced_cpu_ticks"] = int(rest[11]) + int(rest[12])
        except (ValueError, AttributeError, IndexError):
            s["unparsed"] += 1
    return s

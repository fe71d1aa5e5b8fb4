"""TierVM VM test rig: boots tiered guests under QEMU and talks to them.

A guest has two NUMA nodes by default, node 0 FMEM and node 1 SMEM, each
backed by its own memory-backend-file in /dev/shm (so the host memory each
node holds can be read from the backing file and from the QEMU process's
smaps).  The guest runs tests/vm/guest/init, whose command agent on ttyS1
executes shell commands for the host.  QMP is a unix socket.

KVM is used only when the rig's probe found it usable (rig.env
KVM_USABLE=1); otherwise TCG.

Environment: TIERVM_RIG_ENV names the rig.env written by
scripts/prepare-rig.sh; TIERVM_RESULTS_DIR is where tests write JSON.
Thread-safety: none; one test drives its guests from one thread.
"""

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

MIB = 1 << 20
GIB = 1 << 30


class RigError(Exception):
    pass


def load_env(path=None):
    path = path or os.environ.get("TIERVM_RIG_ENV")
    if not path or not os.path.exists(path):
        raise RigError("rig.env not found (set TIERVM_RIG_ENV; run "
                       "scripts/prepare-rig.sh BUILD_DIR)")
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def results_dir():
    d = os.environ.get("TIERVM_RESULTS_DIR") or os.path.join(os.getcwd(),
                                                             "results")
    os.makedirs(d, exist_ok=True)
    return d


def write_result(name, obj):
    path = os.path.join(results_dir(), name + ".json")
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)
    return path


def module_overlay(series):
    """The overlay that puts TIERVM_HBALLOON_KO_<6_1|6_12> (when set) in
    place of the rig's hballoon.ko: tests run against another build of the
    module (the one before a fix, to show the test fails there)."""
    ko = os.environ.get("TIERVM_HBALLOON_KO_" + series.replace(".", "_"))
    return {"/lib/hb/hballoon.ko": ko} if ko else {}


def read_jsonl(path):
    """Objects of a JSON-lines file (e.g. tiervm-agent --target-log); []
    if the file does not exist."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class QMPError(Exception):
    def __init__(self, cmd, err):
        super().__init__("%s: %s: %s" % (cmd, err.get("class"),
                                         err.get("desc")))
        self.cls = err.get("class")
        self.desc = err.get("desc")


class QMP:
    """Minimal QMP client (docs/interop/qmp-spec.rst): greeting,
    capabilities, commands with ids, events kept in order."""

    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RigError("cannot connect to QMP at " + path)
                time.sleep(0.05)
        self.buf = b""
        self.events = []
        self.next_id = 0
        greeting = self._read(timeout)
        if "QMP" not in greeting:
            raise RigError("bad QMP greeting: %r" % greeting)
        self.cmd("qmp_capabilities")

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RigError("QMP read timed out")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RigError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, _execute, _timeout=60.0, **args):
        """Runs QMP command `_execute` with `args` (the underscores keep
        QMP argument names such as "name" or "timeout" free)."""
        name = _execute
        timeout = _timeout
        self.next_id += 1
        msg = {"execute": name, "id": self.next_id}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            resp = self._read(timeout)
            if "event" in resp:
                self.events.append(resp)
                continue
            if resp.get("id") != self.next_id:
                continue
            if "error" in resp:
                raise QMPError(name, resp["error"])
            return resp["return"]

    def poll_events(self):
        """Reads whatever events have arrived, without blocking long."""
        try:
            while True:
                if b"\n" not in self.buf:
                    self.sock.settimeout(0.01)
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        break
                    self.buf += chunk
                    continue
                line, self.buf = self.buf.split(b"\n", 1)
                msg = json.loads(line)
                if "event" in msg:
                    self.events.append(msg)
        except (socket.timeout, BlockingIOError):
            pass
        return self.events

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Agent:
    """Line protocol with the guest's command agent on ttyS1."""

    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RigError("cannot connect to guest agent at " + path)
                time.sleep(0.05)
        self.buf = b""
        self.next_id = 0

    def read_line(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RigError("guest agent timed out")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise RigError("guest agent timed out")
            if not chunk:
                raise RigError("guest agent connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(deadline)
            if line.startswith("__READY__"):
                return line.split()[1:]

    def run(self, cmd, timeout=120.0):
        if "\n" in cmd:
            raise ValueError("one-line commands only")
        self.next_id += 1
        tag = "c%d" % self.next_id
        self.sock.sendall(("%s %s\n" % (tag, cmd)).encode())
        deadline = time.monotonic() + timeout
        out = []
        while True:
            try:
                line = self.read_line(deadline)
            except (RigError, OSError) as e:
                raise RigError("guest command %r: %s; output so far: %r" %
                               (cmd, e, out[-5:])) from e
            m = re.match(r"^__END__ (\S+) (\d+)$", line)
            if m and m.group(1) == tag:
                text = "\n".join(out)
                return int(m.group(2)), text[:-1] if text.endswith(
                    "\n") else text
            out.append(line)


class Guest:
    """One QEMU process with a tiered guest.

    nodes_mib: RAM per guest NUMA node (node 0 FMEM, others SMEM unless
    `tiers` says otherwise).  hballoon: add virtio-hballoon-pci (id hb0).
    virtio_balloon: add a stock virtio-balloon-pci (id vb0) for
    comparisons.  incoming: a migration URI to wait on instead of booting.
    """

    def __init__(self, env, name, series="6.1", nodes_mib=(1024, 1024),
                 smp=2, kmod="normal", hballoon=True, virtio_balloon=False,
                 incoming=None, append="", tiers=None, extra_args=(),
                 overlay=None, hmat=False, host_nodes=None, kvm_pmu=False):
        self.env = env
        self.name = name
        self.series = series
        self.nodes_mib = list(nodes_mib)
        self.smp = smp
        self.kmod = kmod
        self.hballoon = hballoon
        self.virtio_balloon = virtio_balloon
        self.incoming = incoming
        self.append = append
        self.tiers = tiers
        self.extra_args = list(extra_args)
        # {guest path: host path}: files (built in the build tree, e.g.
        # hplaced) added to the guest's root file system at boot.
        self.overlay = dict(overlay or {})
        self.hmat = hmat
        self.host_nodes = list(host_nodes) if host_nodes else None
        if self.host_nodes and len(self.host_nodes) != len(self.nodes_mib):
            raise RigError("host_nodes needs one host node per guest node")
        self.kvm_pmu = kvm_pmu
        self.dir = tempfile.mkdtemp(prefix="tiervm-%s-" % name,
                                    dir=os.environ.get("TIERVM_VM_WORKDIR"))
        self.shm = []
        self.proc = None
        self.qmp = None
        self.agent = None
        self.last_console = ""

    # -- lifecycle -------------------------------------------------------
    def accel_args(self):
        if self.kvm_pmu:
            return ["-accel", "kvm", "-cpu", "host,pmu=on"]
        if self.env.get("KVM_USABLE") == "1":
            return ["-accel", "kvm", "-cpu", "host"]
        return ["-accel", "tcg,thread=multi"]

    def args(self):
        key = self.series.replace(".", "_")
        kernel = self.env["KERNEL_" + key]
        initrd = self.env["INITRD_" + key]
        if self.overlay:
            initrd = self._initrd_with_overlay(initrd)
        total = sum(self.nodes_mib)
        a = [self.env["QEMU"], "-L", "/usr/share/qemu", "-L",
             "/usr/share/seabios", "-machine", "q35", "-nodefaults",
             "-display", "none", "-m", "%dM" % total, "-smp", str(self.smp)]
        if self.hmat:
            a[a.index("q35")] = "q35,hmat=on"
        a += self.accel_args()
        for i, mib in enumerate(self.nodes_mib):
            path = "/dev/shm/tiervm-%d-%s-m%d" % (os.getpid(), self.name, i)
            self.shm.append(path)
            backend = ("memory-backend-file,id=m%d,size=%dM,"
                       "mem-path=%s,share=on" % (i, mib, path))
            if self.host_nodes:
                backend += ",host-nodes=%d,policy=bind" % self.host_nodes[i]
            a += ["-object", backend]
            numa = "node,nodeid=%d,memdev=m%d" % (i, i)
            if i == 0:
                numa += ",cpus=0-%d" % (self.smp - 1)
            if self.hmat:
                numa += ",initiator=0"
            a += ["-numa", numa]
        if self.hmat:
            a += self.hmat_args()
        if self.hballoon:
            dev = "virtio-hballoon-pci,id=hb0"
            if self.tiers:
                dev += ",tiers=" + self.tiers
            a += ["-device", dev]
        if self.virtio_balloon:
            a += ["-device", "virtio-balloon-pci,id=vb0"]
        a += ["-kernel", kernel, "-initrd", initrd, "-append",
              "console=ttyS0 loglevel=4 tiervm.kmod=%s %s" % (self.kmod,
                                                            self.append)]
        a += ["-serial", "file:" + self.path("console.log")]
        a += ["-chardev", "socket,id=agent,path=%s,server=on,wait=off" %
              self.path("agent.sock"), "-serial", "chardev:agent"]
        a += ["-qmp", "unix:%s,server=on,wait=off" % self.path("qmp.sock")]
        if self.incoming:
            a += ["-incoming", self.incoming]
        else:
            a += ["-S"]
        return a + self.extra_args

    def hmat_args(self):
        """HMAT latency/bandwidth from CPU node 0 to every node: node 0
        like local DRAM, the others about 3x the latency and a third of the
        bandwidth (CXL/PMEM-like, perf-anchors.md section 6)."""
        a = []
        for i in range(len(self.nodes_mib)):
            lat_ns, bw = (100, "20G") if i == 0 else (300, "6G")
            a += ["-numa", "hmat-lb,initiator=0,target=%d,hierarchy=memory,"
                  "data-type=access-latency,latency=%d" % (i, lat_ns),
                  "-numa", "hmat-lb,initiator=0,target=%d,hierarchy=memory,"
                  "data-type=access-bandwidth,bandwidth=%s" % (i, bw)]
        return a

    def path(self, name):
        return os.path.join(self.dir, name)

    def _initrd_with_overlay(self, base):
        """The base initramfs followed by a second gzip'd cpio archive with
        the overlay files and the shared libraries they load (the kernel
        unpacks concatenated archives in order, later files win)."""
        out = self.path("initrd-overlay.cpio.gz")
        if os.path.exists(out):
            return out
        root = self.path("overlay-root")
        files = {}
        for gpath, hpath in self.overlay.items():
            if not os.path.isfile(hpath):
                raise RigError("overlay file %s missing" % hpath)
            files[gpath] = hpath
            ldd = subprocess.run(["ldd", hpath], capture_output=True,
                                 text=True)
            if ldd.returncode == 0:
                for tok in ldd.stdout.split():
                    if tok.startswith("/") and os.path.isfile(tok):
                        files.setdefault(tok, tok)
                        real = os.path.realpath(tok)
                        files.setdefault(real, real)
        for gpath, hpath in files.items():
            dst = os.path.join(root, gpath.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(hpath, dst)
        listing = subprocess.run(
            "cd %s && find . | LC_ALL=C sort | cpio -o -H newc --quiet | "
            "gzip -1" % shlex.quote(root), shell=True, capture_output=True,
            check=True).stdout
        with open(out + ".tmp", "wb") as f:
            with open(base, "rb") as b:
                shutil.copyfileobj(b, f)
            f.write(listing)
        os.rename(out + ".tmp", out)
        return out

    def start(self, boot_timeout=180.0, boot_attempts=2):
        """Boots the guest.  A kernel panic before hballoon.ko is loaded
        is an emulator flake (seen once: multi-threaded TCG, int3 in
        text patching), not a result, so such a boot is retried once and
        reported on stderr; every other failure is final."""
        for attempt in range(1, boot_attempts + 1):
            try:
                return self._start(boot_timeout)
            except Exception:
                console = self.last_console
                early_panic = "Kernel panic" in console and \
                    "hballoon" not in console
                if not early_panic or attempt == boot_attempts:
                    raise
                sys.stderr.write("rig: %s: guest kernel panicked during "
                                 "boot before hballoon loaded; retrying\n"
                                 % self.name)
                self.shm = []
                self.dir = tempfile.mkdtemp(
                    prefix="tiervm-%s-" % self.name,
                    dir=os.environ.get("TIERVM_VM_WORKDIR"))

    def _start(self, boot_timeout):
        self.stderr = open(self.path("qemu.stderr"), "w")
        self.proc = subprocess.Popen(self.args(), stdout=self.stderr,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            self.qmp = QMP(self.path("qmp.sock"))
            self.agent = Agent(self.path("agent.sock"))
            if not self.incoming:
                self.qmp.cmd("cont")
                self.banner = self._wait_booted(boot_timeout)
        except Exception:
            self.last_console = self.console() if os.path.exists(
                self.path("console.log")) else ""
            self.dump_logs()
            self.stop()
            raise
        return self

    def _wait_booted(self, timeout):
        """Waits for the agent's banner; gives up early on a panic."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.agent.wait_ready(min(2.0, max(
                    0.1, deadline - time.monotonic())))
            except RigError:
                if "Kernel panic" in self.console():
                    raise RigError("guest kernel panicked during boot")
                if time.monotonic() >= deadline:
                    raise

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.qmp:
            try:
                self.qmp.cmd("quit", _timeout=5)
            except Exception:
                pass
            self.qmp.close()
            self.qmp = None
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for p in self.shm:
            try:
                os.unlink(p)
            except OSError:
                pass
        if os.environ.get("TIERVM_KEEP_VM_DIRS") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.dump_logs()
        self.stop()

    def dump_logs(self, tail=60):
        for name in ("qemu.stderr", "console.log"):
            p = self.path(name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    lines = f.readlines()[-tail:]
                sys.stderr.write("---- %s %s (last %d lines)\n" %
                                 (self.name, name, len(lines)))
                sys.stderr.writelines(lines)

    def console(self):
        with open(self.path("console.log"), errors="replace") as f:
            return f.read()

    # -- guest commands ----------------------------------------------------
    def run(self, cmd, timeout=120.0, check=True):
        rc, out = self.agent.run(cmd, timeout)
        if check and rc != 0:
            raise RigError("guest command failed (rc=%d): %s\n%s" %
                           (rc, cmd, out))
        return out if check else (rc, out)

    def node_meminfo(self, node):
        """Guest /sys/devices/system/node/nodeN/meminfo, values in bytes."""
        out = self.run("cat /sys/devices/system/node/node%d/meminfo" % node)
        info = {}
        for line in out.splitlines():
            m = re.match(r"Node \d+ (\S+):\s+(\d+)( kB)?", line)
            if m:
                info[m.group(1)] = int(m.group(2)) * (1024 if m.group(3)
                                                      else 1)
        return info

    def vmstat(self):
        """Guest /proc/vmstat as {counter: int}."""
        v = {}
        for line in self.run("cat /proc/vmstat").splitlines():
            k, _, val = line.partition(" ")
            if val.strip().isdigit():
                v[k] = int(val)
        return v

    def mem_free(self, node):
        return self.node_meminfo(node)["MemFree"]

    def pcp_bytes(self, node):
        """Free pages parked in node's per-CPU page lists (/proc/zoneinfo
        "count:"), which MemFree leaves out.  6.12 lets these lists grow
        large during bursts of frees, such as a balloon deflate."""
        total, cur = 0, None
        for line in self.run("cat /proc/zoneinfo").splitlines():
            m = re.match(r"^Node (\d+), zone", line)
            if m:
                cur = int(m.group(1))
            elif cur == node and line.strip().startswith("count:"):
                total += int(line.split()[1]) * 4096
        return total

    def free_bytes(self, node):
        """Free memory of a node: MemFree plus the per-CPU free lists."""
        return self.mem_free(node) + self.pcp_bytes(node)

    # -- tiering set-up and its CPU cost ----------------------------------
    def memory_tiers(self):
        """{node: memory tier name} from /sys/devices/virtual/memory_tiering
        ({} when the kernel has no memory tiers).  A smaller tier number is
        a faster tier; 6.12 puts an HMAT-described slow node (hmat=True) in
        a lower tier than node 0, 6.1 keeps both in one."""
        return parse_memory_tiers(self.run(
            "for d in %s/memory_tier*; do [ -e $d/nodelist ] && "
            "echo ${d##*/} $(cat $d/nodelist); done" % TIERING_SYSFS,
            check=False)[1])

    def set_kernel_tiering(self, on):
        """on: Linux's own tiering, NUMA balancing in memory-tiering mode
        (kernel.numa_balancing = 2: promotion of hot pages from lower tiers
        on hint faults) with demotion on reclaim
        (/sys/kernel/mm/numa/demotion_enabled = 1); off: both 0.  Checks
        what the kernel reads back; returns what was set."""
        want = ("2", "true") if on else ("0", "false")
        self.run("echo %s > /proc/sys/kernel/numa_balancing; "
                 "echo %d > %s" % (want[0], 1 if on else 0, DEMOTION_SYSFS))
        got = tuple(self.run("cat /proc/sys/kernel/numa_balancing %s" %
                             DEMOTION_SYSFS).split())
        if got != want:
            raise RigError("kernel tiering not %s: numa_balancing, "
                           "demotion_enabled = %r" % ("on" if on else "off",
                                                      got))
        out = {"numa_balancing": int(want[0]), "demotion_enabled": int(on)}
        rc, rate = self.run("cat /proc/sys/kernel/"
                            "numa_balancing_promote_rate_limit_MBps",
                            check=False)
        if on and rc == 0 and rate.strip().isdigit():
            out["promote_rate_limit_MBps"] = int(rate)
        return out

    def cpu_snapshot(self):
        """parse_cpu_snapshot() of the guest now."""
        return parse_cpu_snapshot(self.run(CPU_SNAPSHOT_SH))

    def settled_free_bytes(self, node, tolerance=2 * MIB, timeout=20.0):
        """free_bytes() once it stops moving: after a program exits, newer
        kernels (6.12) hand its pages back over a few seconds."""
        last = self.free_bytes(node)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            cur = self.free_bytes(node)
            if abs(cur - last) <= tolerance:
                return cur
            last = cur
        return last

    # -- host view ---------------------------------------------------------
    def backend_bytes(self, node):
        """Host memory held by node's backing file (allocated blocks)."""
        return os.stat(self.shm[node]).st_blocks * 512

    def backend_rss(self, node):
        """Rss of node's backend mapping in the QEMU process (smaps)."""
        rss = 0
        path = self.shm[node]
        cur = None
        with open("/proc/%d/smaps" % self.proc.pid) as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    cur = line.split()[-1] if len(line.split()) >= 6 else ""
                elif cur == path and line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
        return rss

    # -- hballoon over QMP ---------------------------------------------------
    def hb_info(self):
        infos = self.qmp.cmd("__org.tiervm_query-hballoon")
        if len(infos) != 1:
            raise RigError("expected one hballoon device, got %r" % infos)
        return infos[0]

    def hb_node(self, node):
        for n in self.hb_info()["nodes"]:
            if n["node"] == node:
                return n
        raise RigError("no node %d in query-hballoon" % node)

    def hb_set_target(self, node, target_bytes):
        return self.qmp.cmd("__org.tiervm_hballoon-set-target", id="hb0",
                            node=node, target=target_bytes)

    def hb_wait_actual(self, node, want_bytes, timeout=60.0, poll=0.1,
                       key="actual"):
        """Waits until QMP reports `key` (the device-counted "actual", or
        the guest-written "guest-actual") == want; returns seconds taken."""
        t0 = time.monotonic()
        while True:
            n = self.hb_node(node)
            if n[key] == want_bytes:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise RigError("node %d %s %d != %d after %.0fs" %
                               (node, key, n[key], want_bytes, timeout))
            time.sleep(poll)


TIERING_SYSFS = "/sys/devices/virtual/memory_tiering"
DEMOTION_SYSFS = "/sys/kernel/mm/numa/demotion_enabled"
# /proc/stat and /proc/PID/stat count in USER_HZ ticks, 100 on x86-64.
USER_HZ = 100
# Kernel threads whose CPU is the kernel's part of tiering: reclaim and
# demotion (kswapdN), compaction (kcompactdN), DAMON (kdamond.N), THP
# collapse (khugepaged).  NUMA balancing's scanning and hint faults run in
# the faulting task's context instead (system time of the workload).
TIERING_KTHREADS = ("kswapd", "kcompactd", "kdamond", "khugepaged")
# One guest shell line printing a CPU snapshot (parse_cpu_snapshot): guest
# uptime, the "cpu" line of /proc/stat, /proc/vmstat and the stat line of
# every process (kernel threads included).  Usable inside a longer line,
# e.g. "{ CPU_SNAPSHOT_SH; } > FILE".
CPU_SNAPSHOT_SH = ("echo @@uptime; cat /proc/uptime; echo @@stat; "
                   "head -1 /proc/stat; echo @@vmstat; cat /proc/vmstat; "
                   "echo @@pids; cat /proc/[0-9]*/stat 2>/dev/null; "
                   "echo @@end")


def parse_memory_tiers(text):
    """Lines "memory_tierN NODELIST" -> {node: "memory_tierN"}."""
    tiers = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith("memory_tier"):
            continue
        for part in parts[1].split(","):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
            if m:
                for node in range(int(m.group(1)),
                                  int(m.group(2) or m.group(1)) + 1):
                    tiers[node] = parts[0]
    return tiers


def tier_number(name):
    """"memory_tier4" -> 4 (None for anything else)."""
    m = re.fullmatch(r"memory_tier(\d+)", name or "")
    return int(m.group(1)) if m else None


def parse_pid_stat(line):
    """One /proc/PID/stat line -> {pid, comm, state, ppid, utime, stime}
    (times in USER_HZ ticks; comm may hold spaces and parentheses, so the
    fields are taken after the last ')'), or None if it does not parse."""
    try:
        head, rest = line.rsplit(")", 1)
        pid, comm = head.split(" (", 1)
        f = rest.split()
        return {"pid": int(pid), "comm": comm, "state": f[0],
                "ppid": int(f[1]), "utime": int(f[11]), "stime": int(f[12])}
    except (ValueError, IndexError):
        return None


def parse_cpu_snapshot(text):
    """CPU_SNAPSHOT_SH output -> {"uptime": s, "cpu": {field: ticks},
    "vmstat": {counter: n}, "procs": {pid: parse_pid_stat()}, "complete"}.
    /proc/stat's cpu fields: user nice system idle iowait irq softirq
    steal (guest, guest_nice are inside user and nice)."""
    snap = {"uptime": None, "cpu": {}, "vmstat": {}, "procs": {},
            "complete": False}
    sec = None
    for line in text.splitlines():
        if line.startswith("@@"):
            sec = line[2:].strip()
            snap["complete"] = snap["complete"] or sec == "end"
            continue
        if sec == "uptime" and line.strip():
            snap["uptime"] = float(line.split()[0])
        elif sec == "stat" and line.startswith("cpu "):
            names = ("user", "nice", "system", "idle", "iowait", "irq",
                     "softirq", "steal")
            snap["cpu"] = dict(zip(names, (int(x) for x in line.split()[1:])))
        elif sec == "vmstat":
            k, _, v = line.partition(" ")
            if v.strip().isdigit():
                snap["vmstat"][k] = int(v)
        elif sec == "pids":
            p = parse_pid_stat(line)
            if p:
                snap["procs"][p["pid"]] = p
    return snap


def proc_cpu_s(p):
    """utime + stime of a parse_pid_stat() entry, in seconds."""
    return (p["utime"] + p["stime"]) / USER_HZ


def kthread_cpu_s(s0, s1, prefixes=TIERING_KTHREADS):
    """{comm: CPU seconds between two snapshots} of the kernel threads
    (children of kthreadd, pid 2) whose name starts with one of prefixes,
    matched by pid (a kworker's name changes with its work item) and named
    as in s1; a thread absent from s0 counts from zero, one gone by s1 is
    lost."""
    out = {}
    for pid, p in s1["procs"].items():
        if p["ppid"] != 2 or not p["comm"].startswith(tuple(prefixes)):
            continue
        before = s0["procs"].get(pid)
        if before is not None and before["ppid"] != 2:
            before = None  # pid reused
        d = proc_cpu_s(p) - (proc_cpu_s(before) if before else 0.0)
        out[p["comm"]] = round(out.get(p["comm"], 0.0) + d, 2)
    return out


def guest_cpu_s(s0, s1):
    """/proc/stat cpu deltas between two snapshots, in CPU seconds, plus
    "busy" (everything but idle and iowait)."""
    d = {k: round((s1["cpu"].get(k, 0) - v) / USER_HZ, 2)
         for k, v in s0["cpu"].items()}
    d["busy"] = round(sum(v for k, v in d.items()
                          if k not in ("idle", "iowait")), 2)
    return d


# --- the hotset workload's output (tests/vm/hplace/hotset.c) ---------------

def parse_hotset(text):
    """hotset's output, as the residency test and the demo read it:
    (series, ready, rc, other).  series: the residency lines
    {t_s, phase, node0, node1, other, mops}; ready: the {"ready":1, ...}
    line or None; rc: from a trailing "hotset-rc=N" line (the caller's
    wrapper adds it) or None; other: any other non-empty line."""
    series, ready, rc, other = [], None, None, []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("hotset-rc="):
            rc = int(line.split("=", 1)[1])
            continue
        try:
            r = json.loads(line) if line.startswith("{") else None
        except ValueError:
            r = None
        if isinstance(r, dict) and "ready" in r:
            ready = r
        elif isinstance(r, dict) and "phase" in r:
            series.append(r)
        elif line:
            other.append(line)
    return series, ready, rc, other


def hot_fraction(row):
    """Share of the hot region's pages on node 0 (FMEM) in one row."""
    total = row["node0"] + row["node1"] + row["other"]
    return row["node0"] / total if total else 0.0


def time_to_fraction(series, phase, phase_s, frac):
    """Seconds from the start of `phase` (phases of `phase_s` seconds) to
    its first row with >= `frac` on FMEM; None if never."""
    start = (phase - 1) * phase_s
    for row in series:
        if row["phase"] == phase and hot_fraction(row) >= frac:
            return round(row["t_s"] - start, 3)
    return None


def probe_kvm(env, timeout=40.0):
    """True when a KVM guest boots to the agent within `timeout` seconds.
    /dev/kvm may exist while KVM guests hang (nested virtualisation), so
    only a real boot counts."""
    if not os.path.exists("/dev/kvm") or not os.access("/dev/kvm",
                                                        os.R_OK | os.W_OK):
        return False
    probe_env = dict(env, KVM_USABLE="1")
    g = Guest(probe_env, "kvmprobe", nodes_mib=(256, 256), smp=1,
              kmod="none", hballoon=False)
    try:
        g.start(boot_timeout=timeout)
        g.run("true", timeout=10)
        return True
    except Exception:
        return False
    finally:
        if g.proc and g.proc.poll() is None:
            g.proc.kill()
        g.stop()


if __name__ == "__main__":
    # python3 rig.py probe-kvm RIG_ENV  -> prints 1 or 0
    if len(sys.argv) == 3 and sys.argv[1] == "probe-kvm":
        print("1" if probe_kvm(load_env(sys.argv[2])) else "0")
    else:
        sys.exit("usage: rig.py probe-kvm RIG_ENV")

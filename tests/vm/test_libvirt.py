"""VM test: a real libvirtd runs a domain converted by `tiervm xml`.

The test starts its own daemons (virtlogd -d unless one runs already, and
libvirtd -d with a private libvirtd.conf: its own socket directory, log
and pid file), installs the qemu hook into /etc/libvirt/hooks/qemu.d/tiervm
for the duration (a small wrapper that logs each call and points the hook
at this test's fake agent socket; any file already there is put back), and:

  1. converts a plain TCG domain (no host-node binding: the rig's QEMU is
     built without libnuma, which <numatune><memnode> needs) (the rig's patched QEMU as <emulator>,
     direct kernel boot of the 6.1 rig kernel) with the converter binary,
     checks it with virt-xml-validate, defines and starts it;
  2. requires the hook to have run prepare/start/started, and the fake
     agent to have received the `started` vm-event with the metadata's
     min/max FMEM and weight;
  3. through `virsh qemu-monitor-command` sees virtio-hballoon id hb0 with
     node 0 FMEM and node 1 SMEM of the converted sizes, requires libvirt's
     QEMU command line to carry the HMAT tables (hmat=on, hmat-lb), resizes
     node 1 with __org.tiervm_hballoon-set-target and waits until `actual`
     (and the guest-written `guest-actual`) reach the target, then deflates;
  4. in the guest (command agent on ttyS1): node 1 is CPU-less and the
     kernel reports the converter's HMAT figures for both nodes; on 6.12
     (a 6.10+ kernel) node 1 sits in a lower memory tier than node 0;
  5. destroys it: the agent receives `stopped` and `release`;
  6. defines a second domain whose metadata names a host node that does not
     exist: `virsh start` fails with the hook's message.

Daemons are stopped by PID and domains destroyed/undefined in every case.
argv[1] is the guest kernel series (6.1 or 6.12).
Result: results/vm_libvirt.json, vm_libvirt_6_12.json (fields in
libvirt-hooks/README.md).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import rig
import vmtest

MIB = 1 << 20
FMEM_MIB, SMEM_MIB = 1024, 512
HOOK_DIR = "/etc/libvirt/hooks/qemu.d"
HOOK_PATH = os.path.join(HOOK_DIR, "tiervm")
DOMAIN = "tiervm-lvtest"
BAD_DOMAIN = "tiervm-lvtest-bad"


class FakeAgent:
    """The agent's control socket: one JSON line in, {"ok":true} out."""

    def __init__(self, path):
        self.path = path
        self.events = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(8)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    msg = json.loads(data.split(b"\n", 1)[0])
                    self.events.append(msg)
                    conn.sendall(b'{"ok":true}\n')
                except (OSError, ValueError) as e:
                    self.events.append({"bad": repr(e)})

    def wait_for(self, event, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e.get("event") == event:
                    return e
            time.sleep(0.1)
        return None

    def close(self):
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Libvirt:
    """Private libvirtd (+ virtlogd when none runs) started and stopped by
    PID."""

    def __init__(self, work):
        self.work = work
        self.sock_dir = os.path.join(work, "sock")
        os.makedirs(self.sock_dir)
        self.conf = os.path.join(work, "libvirtd.conf")
        with open(self.conf, "w") as f:
            f.write('unix_sock_dir = "%s"\n' % self.sock_dir)
            f.write('unix_sock_group = "root"\nunix_sock_rw_perms = "0700"\n')
            f.write('auth_unix_rw = "none"\nauth_unix_ro = "none"\n')
            f.write('log_outputs = "3:file:%s"\n' % os.path.join(work, "libvirtd.log"))
        self.uri = "qemu:///system?socket=%s/libvirt-sock" % self.sock_dir
        self.pids = []

    @staticmethod
    def _running(name):
        return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0

    def _start(self, argv, pidfile):
        subprocess.run(argv, check=True, timeout=30)
        deadline = time.monotonic() + 20
        while not os.path.exists(pidfile) or not open(pidfile).read().strip():
            if time.monotonic() > deadline:
                raise rig.RigError("%s wrote no pid file" % argv[0])
            time.sleep(0.05)
        pid = int(open(pidfile).read().strip())
        self.pids.append((argv[0], pid))
        return pid

    def start(self):
        if self._running("libvirtd"):
            raise rig.RigError("a libvirtd is already running; this test needs the "
                               "qemu driver's state to itself (stop it first)")
        if not self._running("virtlogd"):
            self._start(["virtlogd", "-d", "-p", os.path.join(self.work, "virtlogd.pid")],
                        os.path.join(self.work, "virtlogd.pid"))
        self._start(["libvirtd", "-d", "-f", self.conf, "-p",
                     os.path.join(self.work, "libvirtd.pid")],
                    os.path.join(self.work, "libvirtd.pid"))
        # `virsh list` needs only the connection; `virsh version` would also
        # need a QEMU on PATH for the host's default emulator, and a fresh
        # machine has none (the domain names the rig's QEMU in <emulator>).
        deadline = time.monotonic() + 60
        while True:
            r = self.virsh("list", "--all", timeout=30)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise rig.RigError("libvirtd did not answer on %s: %s\nlibvirtd.log ends:\n%s"
                                   % (self.uri, r.stderr.strip(), self.log_tail()))
            time.sleep(0.2)

    def log_tail(self, lines=20):
        try:
            with open(os.path.join(self.work, "libvirtd.log")) as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return "(no log: %s)" % e

    def virsh(self, *args, timeout=120):
        return subprocess.run(["virsh", "-c", self.uri] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def qmp(self, execute, **arguments):
        msg = {"execute": execute}
        if arguments:
            msg["arguments"] = arguments
        r = self.virsh("qemu-monitor-command", DOMAIN, json.dumps(msg))
        if r.returncode != 0:
            raise rig.RigError("qemu-monitor-command %s: %s" % (execute, r.stderr.strip()))
        return json.loads(r.stdout)

    def stop(self):
        for name, pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        self.pids = []


class HookInstall:
    """Puts the hook wrapper in place, and whatever was there back."""

    def __init__(self, work, hook_bin, agent_sock):
        self.work = work
        self.log = os.path.join(work, "hook.log")
        self.backup = None
        self.made_dir = False
        self.wrapper = (
            "#!/bin/sh\n"
            "# Installed by tests/vm/test_libvirt.py for the test only.\n"
            "echo \"$*\" >> %s\n"
            "TIERVM_HOOK_CONFIG=/nonexistent TIERVM_AGENT_SOCKET=%s exec %s \"$@\"\n"
            % (self.log, agent_sock, hook_bin))

    def __enter__(self):
        if not os.path.isdir(HOOK_DIR):
            os.makedirs(HOOK_DIR)
            self.made_dir = True
        if os.path.lexists(HOOK_PATH):
            self.backup = os.path.join(self.work, "tiervm.hook.orig")
            shutil.move(HOOK_PATH, self.backup)
        with open(HOOK_PATH, "w") as f:
            f.write(self.wrapper)
        os.chmod(HOOK_PATH, 0o755)
        return self

    def __exit__(self, *exc):
        if os.path.lexists(HOOK_PATH):
            os.unlink(HOOK_PATH)
        if self.backup:
            shutil.move(self.backup, HOOK_PATH)
        if self.made_dir:
            try:
                os.rmdir(HOOK_DIR)
            except OSError:
                pass

    def calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [line.split() for line in f if line.strip()]


def plain_domain(env, name, work, series="6.1"):
    return """<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>%(name)s</name>
  <memory unit='MiB'>%(total)d</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>%(kernel)s</kernel>
    <initrd>%(initrd)s</initrd>
    <cmdline>console=ttyS0 loglevel=4 tiervm.kmod=normal</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <devices>
    <emulator>%(qemu)s</emulator>
    <serial type='file'>
      <source path='%(console)s'/>
      <target port='0'/>
    </serial>
    <serial type='unix'>
      <source mode='bind' path='%(gagent)s'/>
      <target port='1'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <seclabel type='none' model='dac'/>
  <qemu:commandline>
    <qemu:arg value='-L'/>
    <qemu:arg value='/usr/share/qemu'/>
    <qemu:arg value='-L'/>
    <qemu:arg value='/usr/share/seabios'/>
  </qemu:commandline>
</domain>
""" % {"name": name, "total": FMEM_MIB + SMEM_MIB, 
       "kernel": env["KERNEL_" + series.replace(".", "_")],
       "initrd": env["INITRD_" + series.replace(".", "_")], "qemu": env["QEMU"],
       "console": os.path.join(work, name + ".console.log"),
       "gagent": os.path.join(work, name + ".agent.sock")}


def convert(t, xml_bin, src, dst, extra=()):
    r = subprocess.run([xml_bin, "--fmem-min", "256M", "--fmem-max", "%dM" % FMEM_MIB,
                        "--smem", "%dM" % SMEM_MIB, "--weight", "150", "--check-host",
                        "--changes", "-o", dst, src] + list(extra),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise rig.RigError("tiervm-xml failed: " + r.stderr)
    return r.stderr


def nodelist(text):
    nodes = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            nodes += range(int(a), int(b) + 1)
        elif part.isdigit():
            nodes.append(int(part))
    return nodes


def hb_node(lv, node):
    info = lv.qmp("__org.tiervm_query-hballoon")["return"]
    return next(n for n in info[0]["nodes"] if n["node"] == node)


def wait_node(lv, node, key, want, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if hb_node(lv, node)[key] == want:
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


def body(t):
    env = t.env
    xml_bin = os.environ["TIERVM_XML_BIN"]
    hook_bin = os.environ["TIERVM_HOOK_BIN"]
    if os.geteuid() != 0:
        raise rig.RigError("needs root (libvirtd, /etc/libvirt/hooks)")
    work = tempfile.mkdtemp(prefix="tiervm-libvirt-", dir="/tmp")
    os.chmod(work, 0o755)  # QEMU (libvirt-qemu) writes the console file here
    agent = FakeAgent(os.path.join(work, "agent.sock"))
    lv = Libvirt(work)
    try:
        with HookInstall(work, hook_bin, agent.path) as hook:
            # 1. convert, validate, define, start.
            plain = os.path.join(work, "plain.xml")
            with open(plain, "w") as f:
                f.write(plain_domain(env, DOMAIN, work, t.series))
            tiered = os.path.join(work, "tiered.xml")
            changes = convert(t, xml_bin, plain, tiered)
            t.figure("converter_changes", changes.strip().splitlines())
            v = subprocess.run(["virt-xml-validate", tiered, "domain"], capture_output=True,
                               text=True)
            t.check("converted domain validates (virt-xml-validate)", v.returncode == 0,
                    (v.stdout + v.stderr).strip())
            lv.start()
            r = lv.virsh("define", tiered)
            t.check("virsh define of the converted domain", r.returncode == 0,
                    (r.stdout + r.stderr).strip())
            t0 = time.monotonic()
            r = lv.virsh("start", DOMAIN)
            t.figure("virsh_start_s", round(time.monotonic() - t0, 2))
            if not t.check("virsh start", r.returncode == 0, (r.stdout + r.stderr).strip()):
                raise rig.RigError("domain did not start: " + r.stderr)

            # 2. the hook ran and told the agent.
            started = agent.wait_for("started", timeout=10)
            ops = [c[1] for c in hook.calls() if c and c[0] == DOMAIN]
            t.figure("hook_ops_at_start", ops)
            t.check("hook ran prepare, start, started",
                    ops[:3] == ["prepare", "start", "started"], ops)
            t.check("agent got the started vm-event with min/max FMEM and weight",
                    started is not None and started.get("vm") == DOMAIN and
                    started.get("min_fmem_bytes") == 256 * MIB and
                    started.get("max_fmem_bytes") == FMEM_MIB * MIB and
                    started.get("weight") == 150, started)

            # 3. the device through libvirt's monitor.
            info = lv.qmp("__org.tiervm_query-hballoon")["return"]
            nodes = {n["node"]: (n["tier"], n["size"]) for n in info[0]["nodes"]}
            t.check("virtio-hballoon hb0 with node 0 FMEM and node 1 SMEM of the converted sizes",
                    info[0]["id"] == "hb0" and
                    nodes == {0: ("fmem", FMEM_MIB * MIB), 1: ("smem", SMEM_MIB * MIB)},
                    {"id": info[0]["id"], "nodes": nodes})
            qlog = "/var/log/libvirt/qemu/%s.log" % DOMAIN
            cmdline = open(qlog).read() if os.path.exists(qlog) else ""
            last = cmdline[cmdline.rfind("qemu-system"):]
            t.check("libvirt built the HMAT tables (hmat=on, hmat-lb latency/bandwidth)",
                    "hmat=on" in last and "hmat-lb,initiator=0,target=1" in last and
                    "access-bandwidth" in last, qlog)

            # The guest's command agent on ttyS1 (a unix socket libvirt
            # binds): connect while the kernel boots.
            gagent = rig.Agent(os.path.join(work, DOMAIN + ".agent.sock"), timeout=30)

            target = 256 * MIB
            t0 = time.monotonic()
            lv.qmp("__org.tiervm_hballoon-set-target", id="hb0", node=1, target=target)
            # The guest driver loads during boot; the first inflation waits
            # for it under TCG.
            took = wait_node(lv, 1, "actual", target, timeout=240)
            t.figure("node1_inflate_256mib_from_start_s",
                     None if took is None else round(time.monotonic() - t0, 2))
            t.check("node 1 actual reached the target through virsh qemu-monitor-command",
                    took is not None, hb_node(lv, 1))
            lag = wait_node(lv, 1, "guest-actual", target, timeout=30)
            t.check("guest-written actual follows", lag is not None, hb_node(lv, 1))
            lv.qmp("__org.tiervm_hballoon-set-target", id="hb0", node=1, target=0)
            took = wait_node(lv, 1, "actual", 0, timeout=60)
            t.figure("node1_deflate_s", None if took is None else round(took, 2))
            t.check("node 1 deflated back to 0", took is not None, hb_node(lv, 1))

            # In the guest: node 1 is CPU-less and carries the converter's
            # HMAT figures; 6.10+ kernels put it into a lower memory tier.
            gagent.wait_ready(120)

            def guest(cmd):
                rc, out = gagent.run(cmd, timeout=60)
                return out.strip() if rc == 0 else None
            cpus1 = guest("cat /sys/devices/system/node/node1/cpulist")
            t.check("guest node 1 has no CPUs", cpus1 == "", cpus1)
            perf = {}
            for node in (0, 1):
                base = "/sys/devices/system/node/node%d/access0/initiators/" % node
                perf[node] = (guest("cat %sread_latency" % base),
                              guest("cat %sread_bandwidth" % base))
            t.figure("guest_hmat_latency_ns_bandwidth_mibps", perf)
            t.check("guest sees the converter's HMAT figures (node 0 80 ns 20480 MiB/s, "
                    "node 1 240 ns 8192 MiB/s)",
                    perf == {0: ("80", "20480"), 1: ("240", "8192")}, perf)
            tiers = guest("for d in /sys/devices/virtual/memory_tiering/memory_tier*; do "
                          "echo ${d##*memory_tier} $(cat $d/nodelist); done") or ""
            tier_of = {}
            for line in tiers.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0].isdigit():
                    for n in nodelist(parts[1]):
                        tier_of[n] = int(parts[0])
            t.figure("guest_memory_tier_of_node", tier_of)
            if t.series != "6.1":
                t.check("guest kernel puts node 1 (SMEM) in a lower memory tier than node 0",
                        0 in tier_of and 1 in tier_of and tier_of[1] > tier_of[0], tiers)

            # 5. stop: the agent hears stopped and release.
            r = lv.virsh("destroy", DOMAIN)
            t.check("virsh destroy", r.returncode == 0, (r.stdout + r.stderr).strip())
            stopped = agent.wait_for("stopped", timeout=10)
            released = agent.wait_for("release", timeout=10)
            t.check("agent got stopped and release vm-events",
                    stopped is not None and released is not None and
                    stopped.get("vm") == DOMAIN and released.get("vm") == DOMAIN,
                    [stopped, released])
            ops = [c[1] for c in hook.calls() if c and c[0] == DOMAIN]
            t.figure("hook_ops", ops)

            # 6. a bad config is refused at start with the hook's message.
            with open(tiered) as f:
                bad = f.read().replace("<name>%s</name>" % DOMAIN,
                                       "<name>%s</name>" % BAD_DOMAIN)
            smem_el = '<tiervm:smem size="%d" unit="MiB" dedup="off"/>' % SMEM_MIB
            bad = bad.replace(smem_el, smem_el + '<tiervm:host-nodes smem="7"/>')
            bad = bad.replace(os.path.join(work, DOMAIN + ".console.log"),
                              os.path.join(work, BAD_DOMAIN + ".console.log"))
            bad_path = os.path.join(work, "bad.xml")
            with open(bad_path, "w") as f:
                f.write(bad)
            r = lv.virsh("define", bad_path)
            t.check("virsh define of the bad-config domain", r.returncode == 0,
                    (r.stdout + r.stderr).strip())
            r = lv.virsh("start", BAD_DOMAIN)
            msg = (r.stdout + r.stderr).strip()
            t.figure("bad_start_message", msg)
            t.check("bad config refused at start with the hook's message",
                    r.returncode != 0 and "host NUMA node 7 does not exist" in msg, msg)
            state = lv.virsh("domstate", BAD_DOMAIN).stdout.strip()
            t.check("bad-config domain is not running", state == "shut off", state)
            # libvirt runs its stop path (stopped, release) after a failed
            # start; the agent must never hear `started` for it.
            notes = [e for e in agent.events if e.get("vm") == BAD_DOMAIN]
            t.figure("agent_events_refused_domain", [e.get("event") for e in notes])
            t.check("agent never got started for the refused domain",
                    not any(e.get("event") == "started" for e in notes), notes)
    finally:
        for name in (DOMAIN, BAD_DOMAIN):
            try:
                lv.virsh("destroy", name, timeout=60)
                lv.virsh("undefine", name, timeout=60)
            except Exception:
                pass
        lv.stop()
        agent.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    vmtest.main("vm_libvirt", body)

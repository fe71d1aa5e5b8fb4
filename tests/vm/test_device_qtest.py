#!/usr/bin/env python3
"""Smoke test of virtio-hballoon without a guest driver.

Drives the device through the qtest accelerator: a minimal virtio-pci
modern driver written in Python programs the PCI function, sets up the
three virtqueues in guest memory and submits hand-built inflate, deflate
and stats messages, then checks responses, QMP state, events, discards,
migration to a file and back, a refused migration into a mismatched
destination, and that a structural violation breaks the device.

Usage: smoke-test.py [path/to/qemu-system-x86_64]
Needs firmware in /usr/share/qemu and /usr/share/seabios (Debian:
qemu-system-data, seabios).  Exit status 0 when every check passes.
"""
import atexit, copy, json, os, shutil, socket, struct, subprocess, sys, tempfile, time


class QMP:
    def __init__(self, path):
        for _ in range(100):
            try:
                self.s = socket.socket(socket.AF_UNIX); self.s.connect(path); break
            except OSError:
                time.sleep(0.1)
        self.f = self.s.makefile('rw')
        self.events = []
        json.loads(self.f.readline())
        self.cmd('qmp_capabilities')
    def cmd(self, name, **args):
        m = {'execute': name}
        if args: m['arguments'] = args
        self.f.write(json.dumps(m) + '\n'); self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if 'event' in r: self.events.append(r); continue
            return r
    def hmp(self, line):
        return self.cmd('human-monitor-command', **{'command-line': line}).get('return')

class QTest:
    def __init__(self, path):
        for _ in range(100):
            try:
                self.s = socket.socket(socket.AF_UNIX); self.s.connect(path); break
            except OSError:
                time.sleep(0.1)
        self.f = self.s.makefile('rw')
    def cmd(self, line):
        self.f.write(line + '\n'); self.f.flush()
        while True:
            r = self.f.readline().strip()
            if r.startswith('IRQ'):
                continue
            if not r.startswith('OK'):
                raise RuntimeError(line + ' -> ' + r)
            return r[3:]
    def outl(self, p, v): self.cmd('outl 0x%x 0x%x' % (p, v))
    def inl(self, p): return int(self.cmd('inl 0x%x' % p), 16)
    def wr(self, a, size, v): self.cmd('write%s 0x%x 0x%x' % ({1:'b',2:'w',4:'l',8:'q'}[size], a, v))
    def rd(self, a, size): return int(self.cmd('read%s 0x%x' % ({1:'b',2:'w',4:'l',8:'q'}[size], a)), 16)
    def write(self, a, data):
        self.cmd('write 0x%x 0x%x 0x%s' % (a, len(data), data.hex()))
    def read(self, a, n):
        return bytes.fromhex(self.cmd('read 0x%x 0x%x' % (a, n))[2:])

def cfg_addr(devfn, off): return 0x80000000 | (devfn << 8) | (off & 0xfc)

class Dev:
    BAR = 0xC0000000
    def __init__(self, qt):
        self.qt = qt
        for devfn in range(0, 256, 8):
            qt.outl(0xcf8, cfg_addr(devfn, 0))
            if qt.inl(0xcfc) == 0x10791af4:
                self.devfn = devfn; break
        else:
            raise RuntimeError('no hballoon')
        self.cw(0x20, 4, self.BAR | 0xc)   # BAR4 low
        self.cw(0x24, 4, 0)
        self.cw(0x04, 2, 0x6)  # mem + bus master
        caps = {}
        p = self.cr(0x34, 1)
        while p:
            cid = self.cr(p, 1); nxt = self.cr(p + 1, 1)
            if cid == 9:
                t = self.cr(p + 3, 1); off = self.cr(p + 8, 4)
                caps[t] = (off, self.cr(p + 16, 4) if t == 2 else 0)
            p = nxt
        self.common = self.BAR + caps[1][0]
        self.notify = self.BAR + caps[2][0]; self.mult = caps[2][1]
        self.devcfg = self.BAR + caps[4][0]
    def cr(self, off, size):
        self.qt.outl(0xcf8, cfg_addr(self.devfn, off))
        v = self.qt.inl(0xcfc)
        v >>= 8 * (off & 3)
        return v & ((1 << (8 * size)) - 1)
    def cw(self, off, size, val):
        self.qt.outl(0xcf8, cfg_addr(self.devfn, off))
        if size == 4:
            self.qt.outl(0xcfc, val)
        else:
            self.qt.cmd('out%s 0x%x 0x%x' % ('w' if size == 2 else 'b', 0xcfc + (off & 3), val))
    def init(self, ring_base=0x100000):
        qt, c = self.qt, self.common
        qt.wr(c + 0x14, 1, 0); qt.wr(c + 0x14, 1, 1); qt.wr(c + 0x14, 1, 3)
        qt.wr(c + 0x0, 4, 0); f0 = qt.rd(c + 0x4, 4)
        qt.wr(c + 0x0, 4, 1); f1 = qt.rd(c + 0x4, 4)
        self.host_features = f0 | (f1 << 32)
        qt.wr(c + 0x8, 4, 0); qt.wr(c + 0xc, 4, f0 & 1)
        qt.wr(c + 0x8, 4, 1); qt.wr(c + 0xc, 4, 1)  # VERSION_1
        qt.wr(c + 0x14, 1, 0xb)
        assert qt.rd(c + 0x14, 1) & 8
        self.q = []
        for i in range(3):
            base = ring_base + i * 0x10000
            qt.wr(c + 0x16, 2, i)
            size = qt.rd(c + 0x18, 2)
            desc, avail, used = base, base + 16 * size, base + 0x8000
            qt.wr(c + 0x20, 8, desc); qt.wr(c + 0x28, 8, avail); qt.wr(c + 0x30, 8, used)
            noff = qt.rd(c + 0x1e, 2)
            qt.wr(c + 0x1c, 2, 1)
            qt.cmd('memset 0x%x 0x9000 0' % base)
            self.q.append(dict(size=size, desc=desc, avail=avail, used=used, noff=noff,
                               idx=0, used_idx=0, buf=base + 0xa000))
        qt.wr(c + 0x14, 1, 0xf)
    def status(self): return self.qt.rd(self.common + 0x14, 1)
    def submit(self, qi, out, in_len):
        q, qt = self.q[qi], self.qt
        qt.write(q['buf'], out)
        resp = q['buf'] + 0x4000
        if in_len:
            qt.cmd('memset 0x%x 0x%x 0' % (resp, in_len))
        d = q['desc']
        qt.write(d, struct.pack('<QIHH', q['buf'], len(out), 1 if in_len else 0, 1))
        if in_len:
            qt.write(d + 16, struct.pack('<QIHH', resp, in_len, 2, 0))
        slot = q['idx'] % q['size']
        qt.wr(q['avail'] + 4 + 2 * slot, 2, 0)
        q['idx'] += 1
        qt.wr(q['avail'] + 2, 2, q['idx'] & 0xffff)
        qt.wr(self.notify + q['noff'] * self.mult, 2, qi)
        uidx = qt.rd(q['used'] + 2, 2)
        if uidx == q['used_idx']:
            return None  # not consumed (device broken)
        q['used_idx'] = uidx
        if in_len:
            return struct.unpack('<IIII', qt.read(resp, 16))
        return ()
    def req(self, qi, node, order, pfns, seq=1, reserved=0, num=None, in_len=16):
        body = struct.pack('<IHHII', node, order, reserved,
                           len(pfns) if num is None else num, seq)
        body += b''.join(struct.pack('<Q', p) for p in pfns)
        return self.submit(qi, body, in_len)
    def stats(self, seq, recs):
        body = struct.pack('<II', len(recs), seq)
        body += b''.join(struct.pack('<HHIQ', t, n, 0, v) for t, n, v in recs)
        return self.submit(2, body, 0)
    def config(self):
        raw = self.qt.read(self.devcfg, 8 + 32 * 8)
        n, pl = struct.unpack('<II', raw[:8])
        nodes = [struct.unpack('<8I', raw[8 + 32 * i: 40 + 32 * i])[:5] for i in range(n)]
        return n, pl, nodes

QEMU = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('QEMU', 'qemu-system-x86_64')
TMP = tempfile.mkdtemp(prefix='hballoon-smoke-')
PROCS = []


@atexit.register
def cleanup():
    for proc in PROCS:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shutil.rmtree(TMP, ignore_errors=True)

COMMON = ('-L /usr/share/qemu -L /usr/share/seabios -machine q35 -m 2G -smp 1 -nic none '
          '-object memory-backend-ram,id=m0,size=1G -object memory-backend-ram,id=m1,size=1G '
          '-numa node,nodeid=0,memdev=m0,cpus=0 -numa node,nodeid=1,memdev=m1 -display none').split()
I, D, OK, RANGE, DUP, STATE, REFUSED = 0, 1, 0, 1, 2, 3, 4
fails = 0

def check(name, got, want):
    global fails
    ok = got == want
    fails += not ok
    print(('PASS ' if ok else 'FAIL ') + name + ('' if ok else ' got %r want %r' % (got, want)))

def start(tag, extra=(), qtest=True):
    qs, ts = os.path.join(TMP, tag + '.qmp'), os.path.join(TMP, tag + '.qt')
    for p in (qs, ts):
        if os.path.exists(p): os.unlink(p)
    args = [QEMU] + COMMON + ['-qmp', 'unix:%s,server=on,wait=off' % qs]
    if qtest:
        args += ['-accel', 'qtest', '-qtest', 'unix:%s,server=on,wait=off' % ts]
    args += list(extra)
    p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    PROCS.append(p)
    time.sleep(0.5)
    q = QMP(qs)
    t = QTest(ts) if qtest else None
    return p, q, t

def query(q):
    return q.cmd('__org.tiervm_query-hballoon')['return'][0]

p, q, t = start('src', ['-device', 'virtio-hballoon-pci,id=hb0,tiers=fmem:smem,stats-min-interval-ms=500',
                        '-device', 'virtio-balloon-pci,id=bal'])
d = Dev(t); d.init()
check('feature deflate-on-oom offered', d.host_features & 1, 1)
check('config', d.config(), (2, 0, [(0, 0, 262144, 0, 0), (1, 1, 262144, 0, 0)]))
q.cmd('__org.tiervm_hballoon-set-target', id='hb0', node=0, target=64 << 20)
q.cmd('__org.tiervm_hballoon-set-pressure', id='hb0', level='low')
check('config after set-target', d.config()[:2] + (d.config()[2][0][3],), (2, 1, 16384))

# page contents must be discarded
base = 0x10000  # PFN of 256 MiB on node 0
t.write(base << 12, b'\xaa' * 64)
r = d.req(I, 0, 0, list(range(base, base + 256)), seq=7)
check('inflate 256 contiguous 4K', r, (OK, 7, 0, 256))
check('discarded page reads zero', t.read(base << 12, 64), bytes(64))
inf = query(q)
check('one discard call for a contiguous run', (inf['discard-calls'], inf['discarded-bytes']), (1, 1 << 20))
# reversed + gap -> 2 extents
r = d.req(I, 0, 0, [0x20003, 0x20002, 0x20001, 0x20000, 0x20010], seq=8)
check('inflate unsorted with gap', r, (OK, 8, 0, 261))
check('two more discard calls', query(q)['discard-calls'], 3)
# 2M pages on node 1
r = d.req(I, 1, 9, [0x40000, 0x40200, 0x40600], seq=9)
check('inflate 2M on node 1', r, (OK, 9, 0, 1536))
check('2 discard calls (2 runs)', query(q)['discard-calls'], 5)
# range errors
check('wrong node', d.req(I, 0, 0, [0x20100, 0x40000 + 5]), (RANGE, 1, 1, 261))
check('beyond RAM', d.req(I, 1, 0, [0x80000]), (RANGE, 1, 0, 1536))
check('misaligned 2M', d.req(I, 1, 9, [0x40800, 0x40801]), (RANGE, 1, 1, 1536))
check('pfn overflow', d.req(I, 1, 9, [(1 << 64) - 512]), (RANGE, 1, 0, 1536))
check('ram hole / mmio', d.req(I, 0, 0, [Dev.BAR >> 12]), (RANGE, 1, 0, 261))
check('dup', d.req(I, 0, 0, [0x30000, 0x30001, 0x30000]), (DUP, 1, 2, 261))
check('state inflate twice', d.req(I, 0, 0, [0x30000, base + 3]), (STATE, 1, 1, 261))
check('state inflate 4K inside ballooned 2M', d.req(I, 1, 0, [0x40201]), (STATE, 1, 0, 1536))
check('state deflate not ballooned', d.req(D, 0, 0, [base, 0x31000]), (STATE, 1, 1, 261))
check('deflate 4K out of a 2M', d.req(D, 1, 0, [0x40201]), (OK, 1, 0, 1535))
check('deflate 2M now partial -> state', d.req(D, 1, 9, [0x40200]), (STATE, 1, 0, 1535))
check('deflate ok', d.req(D, 0, 0, [base, base + 1], seq=3), (OK, 3, 0, 259))
inf = query(q)
check('rejected counted', inf['rejected-requests'], 10)
check('node actuals', [(n['actual'] >> 12, n['inflated-pages'], n['deflated-pages']) for n in inf['nodes']],
      [(259, 261, 2), (1535, 1536, 1)])
# guest mirror
t.wr(d.devcfg + 8 + 16, 4, 1234)
check('guest-actual mirrored', query(q)['nodes'][0]['guest-actual'], 1234 << 12)
check('target read-only', (t.wr(d.devcfg + 8 + 12, 4, 5), d.config()[2][0][3])[1], 16384)
# stats
check('stats push', d.stats(5, [(0, 0, 111), (1, 1, 222), (2, 0xffff, 333), (77, 0, 1), (4, 200, 9)]), ())
check('stats dropped', d.stats(6, [(0, 0, 999)]), ())
st = query(q)['stats']
check('stats table', (st['seq'], st['dropped'], st['unknown-tags'], st['last-update-ms'] > 0,
                      sorted((r['tag'], r['node'], r['value']) for r in st['records'])),
      (5, 1, 2, True, [(0, 0, 111), (1, 1, 222), (2, 65535, 333)]))
time.sleep(0.6)
d.stats(7, [(0, 0, 999)])
check('stats after interval', query(q)['stats']['seq'], 7)
ev = [e for e in q.events if e['event'] == '__org.tiervm_HBALLOON_CHANGE']
check('events emitted and rate limited', 1 <= len(ev) <= 3, True)
print('events:', [(e['data']['node'], e['data']['actual']) for e in ev])

# migration with partly ballooned nodes
q.cmd('__org.tiervm_hballoon-set-target', id='hb0', node=1, target=8 << 20)
before = query(q)
mf = os.path.join(TMP, 'mig.bin')
r = q.cmd('migrate', uri='exec:cat > ' + mf)
for _ in range(100):
    s = q.cmd('query-migrate')['return']
    if s.get('status') in ('completed', 'failed'): break
    time.sleep(0.1)
check('migration completed', s.get('status'), 'completed')
p2, q2, t2 = start('dst', ['-device', 'virtio-hballoon-pci,id=hb0,tiers=fmem:smem,stats-min-interval-ms=500',
                           '-device', 'virtio-balloon-pci,id=bal', '-incoming', 'exec:cat ' + mf])
for _ in range(100):
    s = q2.cmd('query-migrate')['return']
    if s.get('status') in ('completed', 'failed'): break
    time.sleep(0.1)
check('incoming completed', s.get('status'), 'completed')
after = query(q2)
# The destination discards the ballooned runs again after loading (the
# stream's zero pages would otherwise populate shared backends), so only
# the discard counters may grow; everything else must be identical.
moved = {k: after.pop(k) - before.pop(k)
         for k in ('discard-calls', 'discarded-bytes')}
check('state identical after migration', after, before)
check('destination re-discarded the ballooned runs',
      moved['discard-calls'] > 0 and moved['discarded-bytes'] ==
      sum(n['actual'] for n in after['nodes']), True)
d2 = Dev(t2)
d2.q = copy.deepcopy(d.q)
check('dst: deflate a migrated ballooned page', d2.req(D, 0, 0, [base + 2], seq=11), (OK, 11, 0, 258))
check('dst: inflate of migrated ballooned page -> state', d2.req(I, 1, 9, [0x40600], seq=12), (STATE, 12, 0, 1535))
q2.cmd('quit'); p2.wait()

# mismatching destination
p3 = subprocess.Popen([QEMU] + COMMON + ['-accel', 'qtest', '-qtest', 'null', '-device',
                      'virtio-hballoon-pci,id=hb0,tiers=fmem:fmem', '-incoming', 'exec:cat ' + mf],
                      stderr=subprocess.PIPE, text=True)
p3.wait(timeout=20)
err = p3.stderr.read()
check('mismatched tiers: load fails cleanly', p3.returncode != 0 and 'tiers' in err, True)
print('  stderr:', err.strip().replace('\n', ' | ')[:400])

# structural violation -> broken
r = d.req(I, 2, 0, [1])
check('unknown node -> not answered', r, None)
inf = query(q)
check('broken reported', inf['broken'], True)
check('device status NEEDS_RESET', d.status() & 0x40, 0x40)
q.cmd('quit'); p.wait()
print('FAILS', fails)
sys.exit(1 if fails else 0)

"""Unit tests of the VM harness's pure parts (no guest is booted):
scenario validation, sample parsing, validity rules, the real-hardware
QEMU command line.  Run: python3 benchmarks/vm/harness/test_harness.py"""

import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "vm"))
import guestside  # noqa: E402
import harness  # noqa: E402  (benchmarks/vm/harness.py)
import rig  # noqa: E402
import scenario  # noqa: E402
import sqlite_script  # noqa: E402

GOOD = """
name = "t"
duration_s = 10
[vm]
fmem_mib = 256
smem_mib = 512
[workload]
kind = "gups"
mib = 400
hot_mib = 32
[short]
duration_s = 5
[short.workload]
hot_mib = 16
"""


def load_text(text, name="t", short=False):
    d = tempfile.mkdtemp()
    path = os.path.join(d, name + ".toml")
    with open(path, "w") as f:
        f.write(text)
    return scenario.load(path, short=short)


class ScenarioTest(unittest.TestCase):
    def test_good_and_short(self):
        sc = load_text(GOOD)
        self.assertEqual(sc["duration_s"], 10)
        self.assertEqual(sc["vm"]["fmem_ratio"], round(256 / 768, 4))
        self.assertEqual(sc["policies"], list(scenario.POLICIES))
        sc = load_text(GOOD, short=True)
        self.assertEqual(sc["duration_s"], 5)
        self.assertEqual(sc["workload"]["hot_mib"], 16)

    def test_ratio_form(self):
        sc = load_text(GOOD.replace("fmem_mib = 256\nsmem_mib = 512",
                                    "memory_mib = 1000\nfmem_ratio = 0.25"))
        self.assertEqual((sc["vm"]["fmem_mib"], sc["vm"]["smem_mib"]),
                         (250, 750))

    def test_errors_name_the_key(self):
        cases = {
            "unknown key": GOOD.replace("duration_s = 10",
                                        "duration_s = 10\nbogus = 1"),
            "duration_s must be int": GOOD.replace("duration_s = 10",
                                                   "duration_s = 'x'"),
            "duration_s > 0": GOOD.replace("duration_s = 10",
                                           "duration_s = 0"),
            "unknown policy": GOOD.replace("duration_s = 10",
                                           "duration_s = 10\npolicies = "
                                           "['tpp']"),
            "does not fit": GOOD.replace("mib = 400", "mib = 900"),
            "hot_mib odd": GOOD.replace("hot_mib = 32", "hot_mib = 33"),
            "missing vm sizes": GOOD.replace("smem_mib = 512\n", ""),
            "unknown workload": GOOD.replace('kind = "gups"',
                                             'kind = "memcached"'),
            "agent needs 2 VMs": GOOD.replace("duration_s = 10",
                                              "duration_s = 10\nagent = "
                                              "true"),
            "bad kernel": GOOD.replace("duration_s = 10",
                                       "duration_s = 10\nkernel = '5.10'"),
            "bool as int": GOOD.replace("duration_s = 10",
                                        "duration_s = true"),
        }
        for what, text in cases.items():
            with self.assertRaises(scenario.ScenarioError, msg=what):
                load_text(text)
        with self.assertRaises(scenario.ScenarioError):
            load_text(GOOD, name="other")  # name != file name
        with self.assertRaises(scenario.ScenarioError):
            load_text("name = [", name="t")  # not TOML

    def test_shipped_scenarios_load(self):
        d = os.path.join(HERE, "..", "scenarios")
        names = sorted(f for f in os.listdir(d) if f.endswith(".toml"))
        self.assertGreaterEqual(len(names), 4)
        for f in names:
            for short in (False, True):
                scenario.load(os.path.join(d, f), short=short)


SAMPLE = """@@vmstat
numa_hint_faults 10
pgpromote_success 5
pgmigrate_success 7
nr_free_pages 1
@@meminfo
Node 0 MemFree:   1024 kB
Node 1 MemFree:   2048 kB
@@numa_maps
7f00 default anon=10 dirty=10 N0=6 N1=4 kernelpagesize_kB=4
7f01 default anon=1 N1=1 kernelpagesize_kB=2048
@@wlog
{"placed":true}
{"t_s":2.0,"ops_per_s":5}
@@damon
0 nr_applied 3
0 sz_applied 8192
@@hplaced
42 (hplaced x) S 1 42 42 0 -1 4194304 100 0 0 0 7 3 0 0 20 0
@@end
"""


class SampleTest(unittest.TestCase):
    def test_parse(self):
        s = guestside.parse_sample(SAMPLE)
        self.assertTrue(s["complete"])
        self.assertEqual(s["unparsed"], 0)
        self.assertEqual(s["vmstat"], {"numa_hint_faults": 10,
                                       "pgpromote_success": 5,
                                       "pgmigrate_success": 7})
        self.assertEqual(s["memfree_bytes"], [(0, 1 << 20), (1, 2 << 20)])
        self.assertEqual(s["numa_maps_bytes"], {0: 6 * 4096,
                                                1: 4 * 4096 + (2 << 20)})
        self.assertEqual(s["damon"], {0: {"nr_applied": 3,
                                          "sz_applied": 8192}})
        self.assertEqual(s["hplaced_cpu_ticks"], 10)
        self.assertEqual(len(s["wlog"]), 2)

    def test_garbage_is_counted_not_guessed(self):
        s = guestside.parse_sample("@@vmstat\nnuma_hint_faults x\n"
                                   "@@meminfo\nNode zero\n")
        self.assertFalse(s["complete"])
        self.assertEqual(s["unparsed"], 2)
        self.assertEqual(s["vmstat"], {})

    def test_nodelist(self):
        self.assertEqual(guestside.expand_nodelist("0-2,4"), [0, 1, 2, 4])
        self.assertEqual(guestside.expand_nodelist("junk"), [])


class FakeGuest:
    name = "vm0"


class FakeVm:
    def __init__(self, series, wlines):
        self.g = FakeGuest()
        self.series = series
        self.wlines = wlines


class ValidityTest(unittest.TestCase):
    def check(self, policy, sm, cfg=None):
        vm = FakeVm([{"t_s": 1}], [{"ops_per_s": 1}])
        return harness.validity(policy, [vm], [sm], cfg or {})

    def test_rules(self):
        self.assertFalse(self.check("numa_balancing",
                                    {"numa_hint_faults": 5,
                                     "pgpromote_success": 0})[0])
        self.assertTrue(self.check("numa_balancing",
                                   {"numa_hint_faults": 5,
                                    "pgpromote_success": 1})[0])
        self.assertFalse(self.check("damon", {"damon": {0: {
            "nr_applied": 0}}})[0])
        self.assertTrue(self.check("damon", {"damon": {0: {
            "nr_applied": 2}}})[0])
        self.assertFalse(self.check("hplaced", {"hplaced_samples": 9},
                                    {"hplaced_alive_at_end": {}})[0])
        self.assertTrue(self.check("hplaced", {"hplaced_samples": 9},
                                   {"hplaced_alive_at_end": {"vm0": True}})
                        [0])
        # Sampled, moved nothing: a result, not a misconfiguration.
        self.assertTrue(self.check("hplaced", {"hplaced_samples": 9,
                                               "pgmigrate_success": 0},
                                   {"hplaced_alive_at_end": {"vm0": True}})
                        [0])
        self.assertFalse(self.check("hplaced", {"pgmigrate_success": 9},
                                    {"hplaced_alive_at_end": {"vm0": True}})
                         [0])
        self.assertFalse(self.check("none", {"pgmigrate_success": 1})[0])
        self.assertTrue(self.check("none", {})[0])

    def test_no_samples_is_invalid(self):
        vm = FakeVm([], [])
        ok, why = harness.validity("none", [vm], [{}], {})
        self.assertFalse(ok)
        self.assertIn("no samples", why[0])

    def test_time_to_hot90(self):
        lines = [{"t_s": 2, "phase": 0, "hot_fmem_pct": 10},
                 {"t_s": 4, "phase": 0, "hot_fmem_pct": 95},
                 {"t_s": 6, "phase": 1, "hot_fmem_pct": 5},
                 {"t_s": 8, "phase": 1, "hot_fmem_pct": 50}]
        self.assertEqual(harness.time_to_hot90(lines),
                         [{"phase": 0, "s": 2}, {"phase": 1, "s": None}])


class SqliteTest(unittest.TestCase):
    def test_script_and_zipf(self):
        import random
        ranks = sqlite_script.zipf_ranks(100, 0.99, 5000, random.Random(1))
        self.assertTrue(all(0 <= r < 100 for r in ranks))
        # skewed: rank 0 far more frequent than rank 99
        self.assertGreater(ranks.count(0), 10 * max(1, ranks.count(99)))
        s = sqlite_script.script({"rows": 1000, "row_bytes": 10,
                                  "range_rows": 100, "theta": 0.9,
                                  "queries": 300, "seed": 1})
        self.assertIn('{"placed":true}', s)
        self.assertEqual(s.count("\"tick\":"), 3)


class RealHardwareArgsTest(unittest.TestCase):
    def test_kvm_pmu_host_nodes_hmat(self):
        env = {"QEMU": "qemu", "KERNEL_6_12": "k", "INITRD_6_12": "i",
               "KVM_USABLE": "0"}
        g = rig.Guest(env, "rh", series="6.12", nodes_mib=(256, 512),
                      hmat=True, host_nodes=(0, 2), kvm_pmu=True)
        a = " ".join(g.args())
        self.assertIn("-accel kvm -cpu host,pmu=on", a)
        self.assertIn("q35,hmat=on", a)
        self.assertIn("host-nodes=0,policy=bind", a)
        self.assertIn("host-nodes=2,policy=bind", a)
        self.assertIn("initiator=0", a)
        self.assertIn("target=1,hierarchy=memory,data-type=access-latency,"
                      "latency=300", a)
        with self.assertRaises(rig.RigError):
            rig.Guest(env, "rh", nodes_mib=(256, 512), host_nodes=(0,))
        # default: unchanged command line (no HMAT, TCG)
        g2 = rig.Guest(env, "rh2", series="6.12", nodes_mib=(256, 512))
        a2 = " ".join(g2.args())
        self.assertNotIn("hmat", a2)
        self.assertIn("-accel tcg", a2)
        for x in (g, g2):
            shutil.rmtree(x.dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()

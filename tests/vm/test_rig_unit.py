"""Unit tests of the rig's pure parts (no guest is booted): memory tier
lists, CPU snapshots (/proc/stat, /proc/PID/stat, kernel thread deltas)
and the residency test's time-to-90 % and comparison rules.
Run: python3 tests/vm/test_rig_unit.py"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig  # noqa: E402
import test_hplace_residency as res  # noqa: E402


def stat_line(pid, comm, ppid, utime, stime, state="S"):
    # /proc/PID/stat: pid (comm) state ppid pgrp session tty tpgid flags
    # minflt cminflt majflt cmajflt utime stime ...
    return "%d (%s) %s %d 0 0 0 -1 0 0 0 0 0 %d %d 0 0 20 0 1 0" % (
        pid, comm, state, ppid, utime, stime)


def snapshot(uptime, cpu, procs, vmstat=""):
    return "\n".join(
        ["@@uptime", "%s 1.00" % uptime, "@@stat", "cpu  " + cpu,
         "@@vmstat", vmstat, "@@pids"] + procs + ["@@end"])


class Tiers(unittest.TestCase):
    def test_parse(self):
        t = rig.parse_memory_tiers("memory_tier4 0\nmemory_tier45 1-2,4\n"
                                   "junk\n")
        self.assertEqual(t, {0: "memory_tier4", 1: "memory_tier45",
                             2: "memory_tier45", 4: "memory_tier45"})
        self.assertEqual(rig.tier_number("memory_tier45"), 45)
        self.assertIsNone(rig.tier_number(None))
        self.assertEqual(rig.parse_memory_tiers(""), {})


class Snapshot(unittest.TestCase):
    def test_pid_stat_comm_with_spaces_and_parens(self):
        p = rig.parse_pid_stat(stat_line(7, "a (b) c", 1, 5, 6))
        self.assertEqual((p["pid"], p["comm"], p["ppid"], p["utime"],
                          p["stime"]), (7, "a (b) c", 1, 5, 6))
        self.assertIsNone(rig.parse_pid_stat("garbage"))

    def test_deltas(self):
        s0 = rig.parse_cpu_snapshot(snapshot(
            "10.00", "100 0 50 1000 5 0 2 0 0 0",
            [stat_line(40, "kswapd0", 2, 0, 10),
             stat_line(41, "kcompactd0", 2, 0, 3),
             stat_line(50, "kworker/0:1-events", 2, 0, 1),
             stat_line(90, "kswapd", 1, 100, 100)],  # not a kthread
            "numa_hint_faults 5\npgpromote_success 1"))
        s1 = rig.parse_cpu_snapshot(snapshot(
            "20.50", "300 0 150 2700 15 0 4 0 0 0",
            [stat_line(40, "kswapd0", 2, 0, 35),
             stat_line(50, "kworker/0:1-mm_percpu_wq", 2, 0, 4),
             stat_line(60, "kdamond.0", 2, 0, 7),
             stat_line(90, "kswapd", 1, 300, 300)],
            "numa_hint_faults 25\npgpromote_success 4"))
        self.assertTrue(s0["complete"] and s1["complete"])
        self.assertEqual(s1["uptime"], 20.5)
        self.assertEqual(s1["vmstat"]["numa_hint_faults"], 25)
        kt = rig.kthread_cpu_s(s0, s1)
        self.assertEqual(kt, {"kswapd0": 0.25, "kdamond.0": 0.07})
        self.assertEqual(rig.kthread_cpu_s(s0, s1, ("kworker",)),
                         {"kworker/0:1-mm_percpu_wq": 0.03})
        g = rig.guest_cpu_s(s0, s1)
        self.assertEqual((g["user"], g["system"], g["idle"], g["iowait"],
                          g["softirq"]), (2.0, 1.0, 17.0, 0.1, 0.02))
        self.assertEqual(g["busy"], 3.02)


class Residency(unittest.TestCase):
    def sample(self, t, phase, n0, n1):
        return {"t_s": t, "phase": phase, "node0": n0, "node1": n1,
                "other": 0, "mops": 1.0}

    def test_time_to_90(self):
        p2 = res.PHASE_S
        series = [self.sample(0.5, 1, 10, 90), self.sample(3.0, 1, 90, 10),
                  self.sample(p2 + 0.5, 2, 0, 100),
                  self.sample(p2 + 7.5, 2, 95, 5)]
        self.assertEqual(rig.time_to_fraction(series, 1, p2, 0.9), 3.0)
        self.assertEqual(rig.time_to_fraction(series, 2, p2, 0.9), 7.5)
        self.assertIsNone(rig.time_to_fraction(series[:3], 2, p2, 0.9))

    def test_no_worse(self):
        self.assertTrue(res.no_worse(3.0, 3.0))
        self.assertFalse(res.no_worse(3.5, 3.0))
        self.assertTrue(res.no_worse(12.0, None))
        self.assertFalse(res.no_worse(None, 12.0))
        self.assertTrue(res.no_worse(None, None))

    def test_series_parse(self):
        series, ready, rc, other = rig.parse_hotset(
            '{"ready":1,"cold_mib":300,"fmem_free_mib":50}\n'
            '{"t_s":0.5,"phase":1,"node0":1,"node1":2,"other":0,"mops":3}\n'
            '{"t_s":1.0,"phase":1,"node0"\n'
            'hotset: done\nhotset-rc=0\n')
        self.assertEqual(ready["fmem_free_mib"], 50)
        self.assertEqual(len(series), 1)
        self.assertEqual(rc, 0)
        self.assertEqual(other, ['{"t_s":1.0,"phase":1,"node0"', "hotset: done"])
        self.assertAlmostEqual(rig.hot_fraction(series[0]), 1 / 3)


if __name__ == "__main__":
    unittest.main()

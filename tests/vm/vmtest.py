"""Small harness for VM tests: named checks with measured values, a JSON
result per test in the build tree's results/ folder, and an exit code.

Result file results/<name>.json fields:
  name        test name
  passed      true when every check passed
  checks      list of {what, ok, value, limit?}: each assertion made, with
              the measured value and the bound it was held to
  figures     free-form measured numbers (seconds, bytes) named by key
  kernel      guest kernel series the test ran on
  accel       "kvm" or "tcg"
"""

import os
import sys
import time
import traceback

import rig


class VMTest:
    def __init__(self, name, series="6.1"):
        self.name = name
        self.series = series
        self.env = rig.load_env()
        self.checks = []
        self.figures = {}
        self.t0 = time.monotonic()

    def check(self, what, ok, value=None, limit=None):
        entry = {"what": what, "ok": bool(ok), "value": value}
        if limit is not None:
            entry["limit"] = limit
        self.checks.append(entry)
        print("%s: %s (value=%r%s)" % ("PASS" if ok else "FAIL", what, value,
                                       "" if limit is None else
                                       ", limit=%r" % (limit,)), flush=True)
        return ok

    def figure(self, key, value):
        self.figures[key] = value
        print("figure %s = %r" % (key, value), flush=True)

    def finish(self, error=None):
        passed = error is None and all(c["ok"] for c in self.checks) \
            and bool(self.checks)
        out = {
            "name": self.name,
            "passed": passed,
            "checks": self.checks,
            "figures": self.figures,
            "kernel": self.series,
            "accel": "kvm" if self.env.get("KVM_USABLE") == "1" else "tcg",
            "wall_seconds": round(time.monotonic() - self.t0, 1),
        }
        if error is not None:
            out["error"] = error
        path = rig.write_result(self.name, out)
        n_ok = sum(1 for c in self.checks if c["ok"])
        print("%s: %d passed, %d failed -> %s" % (
            self.name, n_ok, len(self.checks) - n_ok + (error is not None),
            path), flush=True)
        return 0 if passed else 1


def main(name, body, series=None):
    """Runs body(t) and exits with the test's status.  The guest kernel
    series comes from argv[1] (6.1 or 6.12) when given."""
    series = series or (sys.argv[1] if len(sys.argv) > 1 else "6.1")
    t = VMTest(name if series == "6.1" else "%s_%s" % (name,
                                                       series.replace(".", "_")),
               series)
    err = None
    try:
        body(t)
    except Exception:
        err = traceback.format_exc()
        sys.stderr.write(err)
    sys.exit(t.finish(err))

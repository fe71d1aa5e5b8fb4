"""Scenario files of the VM harness: loading and validation.

A scenario is a TOML (or JSON) file; benchmarks/README.md documents every
key.  load() returns a plain dict with defaults filled in, or raises
ScenarioError naming the file and the key that is wrong; nothing is
booted before the whole file has been checked.  --short applies the
file's [short] table over the top-level keys (and its [short.workload]
over [workload]) for the CI run.
"""

import json
import os
import tomllib

POLICIES = ("none", "numa_balancing", "damon", "hplaced")
KERNELS = ("6.1", "6.12")
WORKLOADS = {
    # kind: {key: (type, default or None when required)}
    "gups": {"mib": (int, None), "hot_mib": (int, None),
             "hot_pct": (int, 90), "regions": (int, 1), "phase_s": (int, 0),
             "hot_on_smem": (bool, False), "seed": (int, 1)},
    "redis": {"keys": (int, None), "value_bytes": (int, 1024),
              "theta": (float, 0.99)},
    "sqlite": {"rows": (int, None), "row_bytes": (int, 1000),
               "range_rows": (int, 200), "theta": (float, 0.99),
               "queries": (int, 200000), "seed": (int, 1)},
}
TOP = {"name": (str, None), "description": (str, ""),
       "kernel": (str, "6.12"), "duration_s": (int, None),
       "sample_s": (int, 5), "policies": (list, list(POLICIES)),
       "agent": (bool, False), "agent_args": (list, []),
       "agent_budget_mib": (int, 0),
       "hplaced_args": (list, []), "smp": (int, 2)}
VM = {"count": (int, 1), "fmem_mib": (int, None), "smem_mib": (int, None),
      "memory_mib": (int, None), "fmem_ratio": (float, None)}


class ScenarioError(Exception):
    pass


def _typed(where, key, val, typ):
    if typ is float and isinstance(val, int) and not isinstance(val, bool):
        val = float(val)
    if typ is int and isinstance(val, bool):
        raise ScenarioError("%s: %s must be an integer" % (where, key))
    if not isinstance(val, typ):
        raise ScenarioError("%s: %s must be %s, got %r" %
                            (where, key, typ.__name__, val))
    return val


def _fill(where, table, spec):
    unknown = set(table) - set(spec)
    if unknown:
        raise ScenarioError("%s: unknown key(s) %s" %
                            (where, ", ".join(sorted(unknown))))
    out = {}
    for key, (typ, default) in spec.items():
        if key in table:
            out[key] = _typed(where, key, table[key], typ)
        elif default is None and spec is not VM:
            raise ScenarioError("%s: %s is required" % (where, key))
        else:
            out[key] = default
    return out


def _positive(where, d, keys):
    for k in keys:
        if d.get(k) is not None and d[k] <= 0:
            raise ScenarioError("%s: %s must be > 0" % (where, k))


def parse(raw, where, short=False):
    if not isinstance(raw, dict):
        raise ScenarioError("%s: not a table" % where)
    raw = dict(raw)
    short_t = raw.pop("short", {})
    vm_t = raw.pop("vm", None)
    wl_t = raw.pop("workload", None)
    if not isinstance(short_t, dict):
        raise ScenarioError("%s: [short] must be a table" % where)
    if short:
        short_t = dict(short_t)
        short_wl = short_t.pop("workload", {})
        raw.update(short_t)
        if wl_t is not None:
            wl_t = dict(wl_t, **short_wl)
    sc = _fill(where, raw, TOP)
    if sc["kernel"] not in KERNELS:
        raise ScenarioError("%s: kernel must be one of %s" %
                            (where, ", ".join(KERNELS)))
    for p in sc["policies"]:
        if p not in POLICIES:
            raise ScenarioError("%s: unknown policy %r (known: %s)" %
                                (where, p, ", ".join(POLICIES)))
    if len(set(sc["policies"])) != len(sc["policies"]) or not sc["policies"]:
        raise ScenarioError("%s: policies must be a non-empty list without "
                            "repeats" % where)
    for k in ("agent_args", "hplaced_args"):
        if not all(isinstance(a, str) for a in sc[k]):
            raise ScenarioError("%s: %s must be a list of strings" % (where, k))
    _positive(where, sc, ("duration_s", "sample_s", "smp"))
    if not isinstance(vm_t, dict):
        raise ScenarioError("%s: [vm] table is required" % where)
    vm = _fill(where + " [vm]", vm_t, VM)
    if vm["fmem_mib"] is None:
        # memory_mib + fmem_ratio form
        if vm["memory_mib"] is None or vm["fmem_ratio"] is None:
            raise ScenarioError("%s [vm]: give fmem_mib and smem_mib, or "
                                "memory_mib and fmem_ratio" % where)
        if not 0 < vm["fmem_ratio"] < 1:
            raise ScenarioError("%s [vm]: fmem_ratio must be in (0, 1)" %
                                where)
        vm["fmem_mib"] = int(round(vm["memory_mib"] * vm["fmem_ratio"]))
        vm["smem_mib"] = vm["memory_mib"] - vm["fmem_mib"]
    elif vm["smem_mib"] is None or vm["memory_mib"] is not None:
        raise ScenarioError("%s [vm]: give fmem_mib and smem_mib, or "
                            "memory_mib and fmem_ratio" % where)
    _positive(where + " [vm]", vm, ("count", "fmem_mib", "smem_mib"))
    if vm["fmem_mib"] < 192 or vm["smem_mib"] < 128:
        raise ScenarioError("%s [vm]: a guest needs fmem_mib >= 192 and "
                            "smem_mib >= 128" % where)
    vm["memory_mib"] = vm["fmem_mib"] + vm["smem_mib"]
    vm["fmem_ratio"] = round(vm["fmem_mib"] / vm["memory_mib"], 4)
    sc["vm"] = vm
    if not isinstance(wl_t, dict) or "kind" not in wl_t:
        raise ScenarioError("%s: [workload] with kind is required" % where)
    wl_t = dict(wl_t)
    kind = wl_t.pop("kind")
    if kind not in WORKLOADS:
        raise ScenarioError("%s [workload]: unknown kind %r (known: %s)" %
                            (where, kind, ", ".join(WORKLOADS)))
    wl = _fill(where + " [workload]", wl_t, WORKLOADS[kind])
    wl["kind"] = kind
    _positive(where + " [workload]", wl,
              [k for k in wl if k not in ("kind", "phase_s", "hot_on_smem",
                                          "hot_pct")])
    if kind == "gups":
        if wl["mib"] >= vm["memory_mib"] - 96:
            raise ScenarioError("%s [workload]: mib %d does not fit a %d MiB "
                                "guest" % (where, wl["mib"],
                                           vm["memory_mib"]))
        if not 0 <= wl["hot_pct"] <= 100 or wl["hot_mib"] % 2:
            raise ScenarioError("%s [workload]: hot_pct must be 0..100 and "
                                "hot_mib even (2 MiB pages)" % where)
    if kind in ("redis", "sqlite") and not 0 < wl["theta"] < 1:
        raise ScenarioError("%s [workload]: theta must be in (0, 1)" % where)
    sc["workload"] = wl
    if sc["agent"] and vm["count"] < 2:
        raise ScenarioError("%s: agent = true needs [vm] count >= 2" % where)
    if sc["agent"] and not 0 < sc["agent_budget_mib"] <= \
            vm["count"] * vm["fmem_mib"]:
        raise ScenarioError("%s: agent = true needs agent_budget_mib in "
                            "(0, count * fmem_mib]" % where)
    return sc


def load(path, short=False):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ScenarioError("%s: %s" % (path, e.strerror))
    try:
        if path.endswith(".json"):
            raw = json.loads(data)
        else:
            raw = tomllib.loads(data.decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise ScenarioError("%s: %s" % (path, e))
    sc = parse(raw, path, short)
    stem = os.path.splitext(os.path.basename(path))[0]
    if sc["name"] != stem:
        raise ScenarioError("%s: name %r must match the file name %r" %
                            (path, sc["name"], stem))
    return sc

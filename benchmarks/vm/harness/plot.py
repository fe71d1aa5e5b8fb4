"""PNG plots of a scenario's results with gnuplot (gnuplot-nox): one
figure, four panels, every policy (and VM) a line in each panel:
  1. FMEM residency of the hot set (gups) or of the workload process's
     pages (redis, sqlite), percent;
  2. workload throughput (ops/s);
  3. pages migrated (pgmigrate_success, cumulative since the policy start);
  4. NUMA hint faults and PTE updates (cumulative, log scale);
  5. with the host agent: the FMEM node's balloon size (QMP actual).
Data files (one per policy and VM, whitespace-separated, header comment)
go next to the PNG under <results>/<scenario>/."""

import os
import shutil
import subprocess

COLUMNS = ("t_s", "residency_pct", "ops_per_s", "pgmigrate_success",
           "numa_hint_faults", "numa_pte_updates", "pgpromote_success",
           "pgdemote", "balloon_actual_n0_mib", "hit_share_pct")


def write_dat(path, series):
    with open(path, "w") as f:
        f.write("# " + " ".join(COLUMNS) + "\n")
        for row in series:
            f.write(" ".join("NaN" if row.get(c) is None else
                             ("%g" % row[c]) for c in COLUMNS) + "\n")


def plot(result, out_dir, png_path):
    """Returns the PNG path, or None (with the reason) when gnuplot is
    missing or there is nothing to plot."""
    if not shutil.which("gnuplot"):
        return None, "gnuplot not installed"
    dat_dir = os.path.join(out_dir, result["scenario"])
    os.makedirs(dat_dir, exist_ok=True)
    lines = []
    for pname, pres in result["policies"].items():
        for vm in pres.get("vms", []):
            if not vm.get("series"):
                continue
            dat = os.path.join(dat_dir, "%s-%s.dat" % (pname, vm["name"]))
            write_dat(dat, vm["series"])
            label = pname if len(pres["vms"]) == 1 else "%s %s" % (
                pname, vm["name"])
            if pres.get("status") != "ok":
                label += " (%s)" % pres.get("status")
            lines.append((dat, label))
    if not lines:
        return None, "no series"
    res_label = ("hot-set pages on FMEM (%)" if result["config"]["workload"]
                 ["kind"] == "gups" else "workload RSS on FMEM (%)")
    balloon = bool(result["config"].get("agent"))
    rows = 3 if balloon else 2
    height = 1400 if balloon else 1000
    g = ["set terminal pngcairo size 1400,%d noenhanced" % height if
         _has_cairo() else "set terminal png size 1400,%d" % height,
         "set output '%s'" % png_path,
         "set multiplot layout %d,2 title '%s: %s (%s, guest %s)'" % (
             rows,
             result["scenario"], _esc(result["config"]["description"][:90]),
             result["mode"], result["config"]["kernel"]),
         "set key bottom right", "set grid", "set xlabel 'time since policy "
         "start (s)'"]

    def panel(title, ylabel, col, extra=()):
        g.append("set title '%s'" % title)
        g.append("set ylabel '%s'" % ylabel)
        g.extend(extra)
        g.append("plot " + ", ".join(
            "'%s' using 1:%d with linespoints lc %d title '%s'" % (
                dat, col, i + 1, _esc(label))
            for i, (dat, label) in enumerate(lines)))
    panel("FMEM residency", res_label, 2, ["set yrange [0:105]"])
    panel("throughput", "ops/s", 3, ["set yrange [0:*]"])
    panel("pages migrated (cumulative)", "pgmigrate_success", 4,
          ["set yrange [0:*]"])
    g.append("set title 'NUMA hint faults (solid) / PTE updates (dashed)'")
    g.append("set ylabel 'count (cumulative)'")
    g.append("set logscale y")
    g.append("set yrange [1:*]")
    g.append("plot " + ", ".join(
        ["'%s' using 1:($5+1) with lines lw 2 lc %d title '%s faults'" % (
            dat, i + 1, _esc(label)) for i, (dat, label) in enumerate(lines)]
        + ["'%s' using 1:($6+1) with lines dt 2 lc %d title '%s pte'" % (
            dat, i + 1, _esc(label)) for i, (dat, label) in
            enumerate(lines)]))
    if balloon:
        g.append("unset logscale y")
        panel("FMEM balloon (host agent)", "node 0 balloon actual (MiB)", 9,
              ["set yrange [0:*]"])
    g.append("unset multiplot")
    script = os.path.join(dat_dir, "plot.gp")
    with open(script, "w") as f:
        f.write("\n".join(g) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True)
    if r.returncode != 0:
        return None, "gnuplot failed: " + r.stderr[-300:]
    return png_path, None


def _esc(s):
    return str(s).replace("'", "")


def _has_cairo():
    r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True,
                       text=True)
    return "pngcairo" in (r.stdout + r.stderr)

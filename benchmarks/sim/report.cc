#include "sim/report.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tiervm::sim {
namespace {

double Ratio(uint64_t a, uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0; }

const RunResult* FindRun(const TraceReport& r, const std::string& name) {
  for (const RunResult& x : r.runs) {
    if (x.policy == name) return &x;
  }
  return nullptr;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  f << text;
  f.close();
  if (!f) return absl::InternalError(absl::StrCat("write failed: ", path));
  return absl::OkStatus();
}

std::string Machine() {
  utsname u{};
  std::string cpu = "unknown cpu";
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      if (n == 0) cpu = line.substr(line.find(':') + 2);
      ++n;
    }
  }
  uname(&u);
  return absl::StrCat(cpu, ", ", n, " cpus, ", u.sysname, " ", u.release);
}

bool RunGnuplot(const std::string& script_path) {
  const std::string cmd = absl::StrCat("gnuplot '", script_path, "' >/dev/null 2>&1");
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

std::vector<PhaseChange> FindPhaseChanges(const std::vector<double>& prev_set_hit_fraction,
                                          const std::vector<uint64_t>& first_access,
                                          const std::vector<uint64_t>& epoch_accesses,
                                          double max_overlap) {
  std::vector<PhaseChange> out;
  const size_t n = std::min({prev_set_hit_fraction.size(), first_access.size(), epoch_accesses.size()});
  const uint64_t full = n > 0 ? *std::max_element(epoch_accesses.begin(), epoch_accesses.begin() + n) : 0;
  for (size_t e = 1; e < n; ++e) {
    if (e + 1 == n && epoch_accesses[e] * 2 < full) break;
    if (prev_set_hit_fraction[e] < max_overlap) out.push_back({e, first_access[e]});
  }
  return out;
}

Convergence TimeToFractionOfOracle(const Metrics& policy, const Metrics& oracle, uint64_t from_access,
                                   uint64_t until_access, double fraction,
                                   size_t sustain_windows) {
  Convergence c;
  c.from_access = from_access;
  const size_t n = std::min(policy.win_accesses.size(), oracle.win_accesses.size());
  uint64_t start = 0;
  double start_ns = -1;
  double prev_end_ns = 0;
  for (size_t k = 0; k < n; ++k) {
    const uint64_t end = start + policy.win_accesses[k];
    if (start >= until_access) break;
    if (start >= from_access) {
      if (start_ns < 0) start_ns = prev_end_ns;
      const double pr = Ratio(policy.win_fmem[k], policy.win_accesses[k]);
      const double orr = Ratio(oracle.win_fmem[k], oracle.win_accesses[k]);
      // Reached when this window and the next sustain_windows - 1 (those
      // before until_access) all are at `fraction` of the oracle: a window
      // with free FMEM (e.g. during an initialisation pass) does not count.
      bool ok = pr >= fraction * orr;
      uint64_t s = end;
      for (size_t q = k + 1; ok && q < n && q < k + sustain_windows && s < until_access; ++q) {
        ok = Ratio(policy.win_fmem[q], policy.win_accesses[q]) >=
             fraction * Ratio(oracle.win_fmem[q], oracle.win_accesses[q]);
        s += policy.win_accesses[q];
      }
      if (ok) {
        c.reached = true;
        c.accesses = end - from_access;
        c.seconds = (policy.win_end_ns[k] - start_ns) / 1e9;
        return c;
      }
    }
    prev_end_ns = policy.win_end_ns[k];
    start = end;
  }
  return c;
}

nlohmann::json ToJson(const TraceReport& r) {
  using nlohmann::json;
  const SimTrace& t = *r.trace;
  const LatencyModel& lat = r.config.latency;
  json j;
  j["trace"] = t.name;
  j["machine"] = Machine();
  j["wall_seconds"] = r.wall_seconds;
  j["records"] = t.records.size();
  j["accesses"] = t.total_accesses;
  j["page_bytes"] = t.page_bytes;
  j["touched_pages"] = t.touched_pages;
  j["footprint_bytes"] = static_cast<uint64_t>(t.touched_pages) * t.page_bytes;
  j["span_pages"] = t.num_pages;
  j["fmem_capacity_pages"] = r.config.fmem_capacity_pages;
  j["fmem_capacity_bytes"] = r.config.fmem_capacity_pages * t.page_bytes;
  j["latency_model"] = {{"fmem_ns", lat.fmem_ns},
                        {"smem_ns", lat.smem_ns},
                        {"migrate_fixed_ns", lat.migrate_fixed_ns},
                        {"copy_gb_per_s_4k", lat.copy_gb_per_s_4k},
                        {"copy_gb_per_s_2m", lat.copy_gb_per_s_2m},
                        {"migrate_page_ns", lat.MigrateNs(t.page_bytes)},
                        {"hint_fault_ns", lat.hint_fault_ns},
                        {"pebs_sample_ns", lat.pebs_sample_ns},
                        {"pte_scan_ns", lat.pte_scan_ns}};
  j["oracle_epoch_accesses"] = r.epoch_accesses;
  j["window_accesses"] = r.config.window_accesses;
  j["tiervm_config"] = r.run_config;
  json pcs = json::array();
  for (const PhaseChange& p : r.phase_changes) pcs.push_back({{"epoch", p.epoch}, {"access", p.access}});
  j["phase_changes"] = pcs;
  const RunResult* oracle = FindRun(r, "oracle");
  const double oracle_hit = oracle ? oracle->metrics.HitRatio() : 0;
  json pols = json::array();
  for (const RunResult& run : r.runs) {
    const Metrics& m = run.metrics;
    json p;
    p["name"] = run.policy;
    p["fmem_hit_ratio"] = m.HitRatio();
    p["hit_ratio_vs_oracle"] = oracle_hit > 0 ? m.HitRatio() / oracle_hit : 0;
    p["modelled_seconds"] = m.modelled_ns / 1e9;
    p["avg_access_ns"] = m.accesses ? m.modelled_ns / static_cast<double>(m.accesses) : 0;
    p["avg_latency_ns"] = m.accesses ? m.access_ns / static_cast<double>(m.accesses) : 0;
    p["slowdown_vs_all_fmem"] =
        m.accesses ? m.modelled_ns / (static_cast<double>(m.accesses) * lat.fmem_ns) : 0;
    p["pages_promoted"] = m.promotions;
    p["pages_demoted"] = m.demotions;
    p["pages_migrated"] = m.promotions + m.demotions;
    p["migrations_per_promotion"] =
        m.promotions ? static_cast<double>(m.promotions + m.demotions) / static_cast<double>(m.promotions) : 0;
    p["promotions_bounced"] = m.promotions_bounced;
    p["bounced_share"] =
        m.promotions ? static_cast<double>(m.promotions_bounced) / static_cast<double>(m.promotions) : 0;
    auto mean = [](const std::vector<double>& v) -> json {
      if (v.empty()) return nullptr;
      double sum = 0;
      for (double x : v) sum += x;
      return sum / static_cast<double>(v.size());
    };
    p["precision_vs_oracle"] = mean(m.epoch_precision);
    p["recall_vs_oracle"] = mean(m.epoch_recall);
    p["failed_promotions"] = m.failed_promotions;
    p["hint_faults"] = m.hint_faults;
    p["samples"] = m.samples;
    p["cost_seconds"] = {{"access", m.access_ns / 1e9},
                         {"migration", m.migrate_ns / 1e9},
                         {"hint_faults", m.hint_fault_ns / 1e9},
                         {"sampling", m.sampling_ns / 1e9},
                         {"pte_scan", m.scan_ns / 1e9},
                         {"background_cpu_not_charged", m.background_cpu_ns / 1e9}};
    if (oracle != nullptr) {
      const Convergence w = TimeToFractionOfOracle(
          m, oracle->metrics, 0, r.phase_changes.empty() ? UINT64_MAX : r.phase_changes[0].access);
      p["warmup_to_90pct_of_oracle"] =
          w.reached ? json{{"accesses", w.accesses}, {"seconds", w.seconds}} : json(nullptr);
      json conv = json::array();
      for (size_t i = 0; i < r.phase_changes.size(); ++i) {
        const uint64_t until = i + 1 < r.phase_changes.size() ? r.phase_changes[i + 1].access : UINT64_MAX;
        const Convergence c = TimeToFractionOfOracle(m, oracle->metrics, r.phase_changes[i].access, until);
        conv.push_back({{"from_access", c.from_access},
                        {"reached", c.reached},
                        {"accesses", c.reached ? json(c.accesses) : json(nullptr)},
                        {"seconds", c.reached ? json(c.seconds) : json(nullptr)}});
      }
      p["after_phase_change_to_90pct_of_oracle"] = conv;
    }
    json extra = json::object();
    for (const auto& [k, v] : run.extra) extra[k] = v;
    p["extra"] = extra;
    pols.push_back(p);
  }
  j["policies"] = pols;
  return j;
}

absl::Status WriteTraceOutputs(const TraceReport& r, const std::string& dir, bool plot) {
  const nlohmann::json j = ToJson(r);
  const std::string base = absl::StrCat(dir, "/sim_", r.trace->name);
  if (absl::Status st = WriteFile(base + ".json", j.dump(2) + "\n"); !st.ok()) return st;
  std::string csv =
      "trace,policy,fmem_hit_ratio,hit_ratio_vs_oracle,avg_access_ns,slowdown_vs_all_fmem,"
      "pages_migrated,migrations_per_promotion,hint_faults,samples,warmup_to_90pct_s\n";
  for (const auto& p : j["policies"]) {
    const nlohmann::json w =
        p.contains("warmup_to_90pct_of_oracle") ? p["warmup_to_90pct_of_oracle"] : nlohmann::json(nullptr);
    absl::StrAppendFormat(&csv, "%s,%s,%.4f,%.4f,%.1f,%.3f,%d,%.3f,%d,%d,%s\n", r.trace->name,
                          p["name"].get<std::string>(), p["fmem_hit_ratio"].get<double>(),
                          p["hit_ratio_vs_oracle"].get<double>(), p["avg_access_ns"].get<double>(),
                          p["slowdown_vs_all_fmem"].get<double>(), p["pages_migrated"].get<uint64_t>(),
                          p["migrations_per_promotion"].get<double>(), p["hint_faults"].get<uint64_t>(),
                          p["samples"].get<uint64_t>(),
                          w.is_null() ? std::string("") : absl::StrFormat("%.3f", w["seconds"].get<double>()));
  }
  if (absl::Status st = WriteFile(base + ".csv", csv); !st.ok()) return st;
  // Series: window end (M accesses) and the hit ratio of each policy.
  std::string ser = "window_end_maccesses";
  for (const RunResult& run : r.runs) ser += "," + run.policy;
  ser += "\n";
  size_t n = r.runs.empty() ? 0 : r.runs[0].metrics.win_accesses.size();
  uint64_t acc = 0;
  for (size_t k = 0; k < n; ++k) {
    acc += r.runs[0].metrics.win_accesses[k];
    absl::StrAppendFormat(&ser, "%.3f", static_cast<double>(acc) / 1e6);
    for (const RunResult& run : r.runs) {
      const Metrics& m = run.metrics;
      absl::StrAppendFormat(&ser, ",%.4f", k < m.win_accesses.size() ? Ratio(m.win_fmem[k], m.win_accesses[k]) : 0.0);
    }
    ser += "\n";
  }
  if (absl::Status st = WriteFile(base + "_series.csv", ser); !st.ok()) return st;
  if (!plot) return absl::OkStatus();
  std::string gp = absl::StrCat(
      "set terminal pngcairo size 1000,560 noenhanced\nset output '", base,
      ".png'\nset datafile separator ','\nset key outside right\nset title 'tiervm-sim: ", r.trace->name,
      " (FMEM ", r.config.fmem_capacity_pages * r.trace->page_bytes >> 20, " MiB of ",
      static_cast<uint64_t>(r.trace->touched_pages) * r.trace->page_bytes >> 20,
      " MiB touched)'\nset xlabel 'accesses (millions)'\nset ylabel 'FMEM hit ratio per window'\n"
      "set yrange [0:1.05]\nset grid\n");
  for (const PhaseChange& p : r.phase_changes) {
    absl::StrAppendFormat(&gp, "set arrow from %.3f, graph 0 to %.3f, graph 1 nohead dt 2 lc 'gray'\n",
                          static_cast<double>(p.access) / 1e6, static_cast<double>(p.access) / 1e6);
  }
  gp += "plot ";
  for (size_t i = 0; i < r.runs.size(); ++i) {
    absl::StrAppendFormat(&gp, "%s'%s_series.csv' every ::1 using 1:%d with lines lw 2 title '%s'", i ? ", " : "", base,
                          static_cast<int>(i) + 2, r.runs[i].policy);
  }
  gp += "\n";
  if (absl::Status st = WriteFile(base + ".gp", gp); !st.ok()) return st;
  if (!RunGnuplot(base + ".gp")) std::fprintf(stderr, "warning: gnuplot failed for %s.gp\n", base.c_str());
  return absl::OkStatus();
}

absl::Status WriteSummary(const std::vector<nlohmann::json>& traces, const std::string& dir, bool plot) {
  std::vector<std::string> policies;
  for (const auto& t : traces) {
    for (const auto& p : t["policies"]) {
      const std::string n = p["name"].get<std::string>();
      if (std::find(policies.begin(), policies.end(), n) == policies.end()) policies.push_back(n);
    }
  }
  std::string csv = "trace";
  for (const auto& p : policies) csv += "," + p;
  csv += "\n";
  nlohmann::json sum = nlohmann::json::array();
  for (const auto& t : traces) {
    csv += t["trace"].get<std::string>();
    nlohmann::json row = {{"trace", t["trace"]}};
    for (const auto& name : policies) {
      double v = -1;
      for (const auto& p : t["policies"]) {
        if (p["name"] == name) v = p["fmem_hit_ratio"].get<double>();
      }
      absl::StrAppendFormat(&csv, ",%.4f", v);
      row[name] = v;
    }
    csv += "\n";
    sum.push_back(row);
  }
  if (absl::Status st = WriteFile(dir + "/sim_summary.csv", csv); !st.ok()) return st;
  if (absl::Status st = WriteFile(dir + "/sim_summary.json", sum.dump(2) + "\n"); !st.ok()) return st;
  if (!plot) return absl::OkStatus();
  std::string gp = absl::StrCat(
      "set terminal pngcairo size 1100,520 noenhanced\nset output '", dir,
      "/sim_summary.png'\nset datafile separator ','\nset style data histograms\n"
      "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\nset key outside right\n"
      "set ylabel 'FMEM hit ratio (access-weighted)'\nset yrange [0:1.05]\nset grid ytics\n"
      "set xtics rotate by -20\nset title 'tiervm-sim: hit ratio per trace and policy'\nplot ");
  for (size_t i = 0; i < policies.size(); ++i) {
    absl::StrAppendFormat(&gp, "%s'%s/sim_summary.csv' every ::1 using %d:xtic(1) title '%s'", i ? ", " : "", dir,
                          static_cast<int>(i) + 2, policies[i]);
  }
  gp += "\n";
  if (absl::Status st = WriteFile(dir + "/sim_summary.gp", gp); !st.ok()) return st;
  if (!RunGnuplot(dir + "/sim_summary.gp")) std::fprintf(stderr, "warning: gnuplot failed for summary\n");
  return absl::OkStatus();
}

}  // namespace tiervm::sim

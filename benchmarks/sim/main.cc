// tiervm-sim: runs our placement library and the baseline models over
// TVMTRACE v1 traces and writes results/sim_<trace>.{json,csv,png}.
// Usage: benchmarks/README.md ("Tier simulator"), or tiervm-sim --help.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "placement/replay_trace.h"
#include "sim/models.h"
#include "sim/ours.h"
#include "sim/report.h"
#include "sim/sim.h"

namespace {

using namespace tiervm::sim;

constexpr char kUsage[] = R"(usage: tiervm-sim --trace=FILE [--trace=FILE ...] [options]
  --results-dir=DIR        output directory (default $TIERVM_RESULTS_DIR or ./results)
  --fmem-pct=P             FMEM capacity, % of the trace's touched pages (default 25)
  --fmem-mib=M             FMEM capacity in MiB (overrides --fmem-pct)
  --thp                    2 MiB pages instead of 4 KiB
  --fmem-ns=N --smem-ns=N  tier latencies (default 100 / 300)
  --epoch-accesses=N       oracle epoch (default 8388608)
  --window-accesses=N      metrics window (default epoch / 8)
  --policies=a,b,...       subset of tiervm,oracle,first_touch,numab2_tpp,memtis,damon
  tiervm (ours): --tick-ms=100 --epoch-ticks=1 --budget-pct=1 --min-sample-period=199
                 --no-budget --sample-period=4093 --min-range-kib=2048 --decay=0.5
                 --page-decay=0.99 --max-page-counts=65536 (0: no page counts)
                 placement::TickPlanner, hplaced's defaults: --headroom-mib=16
                 --rate-mib=256 --min-rate-mib=128 --min-hot-weight=4 (per MiB)
                 --min-exchange-gain=0 (off) --page-exchange-gain=1.25
                 --locate-refresh-ticks=10 --locate-window-pages=4096 --restore-after-ticks=0
                 --promote-hold-epochs=2,
                 and --headroom-pct=1: the headroom is at most this % of FMEM
  --require=TRACE:FRACTION[,TRACE:FRACTION...]
                           exit 3 unless tiervm's hit ratio >= FRACTION x oracle's on each TRACE
  --no-plot                skip gnuplot
  --max-trace-mib=M        refuse larger trace files (default 2048)
  --loop-to=N              replay a trace with fewer than N accesses back to back
                           until it has N (short recordings of real programs)
)";

struct Flags {
  std::vector<std::string> traces;
  std::map<std::string, std::string> kv;
  bool has(const std::string& k) const { return kv.count(k) != 0; }
};

bool GetDouble(const Flags& f, const std::string& k, double* out) {
  auto it = f.kv.find(k);
  if (it == f.kv.end()) return true;
  if (!absl::SimpleAtod(it->second, out)) {
    std::fprintf(stderr, "tiervm-sim: --%s: not a number: %s\n", k.c_str(), it->second.c_str());
    return false;
  }
  return true;
}

bool GetU64(const Flags& f, const std::string& k, uint64_t* out) {
  auto it = f.kv.find(k);
  if (it == f.kv.end()) return true;
  if (!absl::SimpleAtoi(it->second, out)) {
    std::fprintf(stderr, "tiervm-sim: --%s: not a non-negative integer: %s\n", k.c_str(), it->second.c_str());
    return false;
  }
  return true;
}

std::string BaseName(const std::string& path) {
  std::string b = path.substr(path.find_last_of('/') + 1);
  const size_t dot = b.find('.');
  return dot == std::string::npos ? b : b.substr(0, dot);
}

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "tiervm-sim: %s\n", st.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  static const char* kKnown[] = {"results-dir", "fmem-pct", "fmem-mib", "thp", "fmem-ns", "smem-ns",
                                 "epoch-accesses", "window-accesses", "policies", "tick-ms", "epoch-ticks",
                                 "headroom-pct", "headroom-mib", "rate-mib", "min-rate-mib",
                                 "min-hot-weight", "min-exchange-gain", "page-exchange-gain", "locate-refresh-ticks", "locate-window-pages", "restore-after-ticks", "promote-hold-epochs",
                                 "budget-pct", "min-sample-period", "no-budget",
                                 "sample-period", "min-range-kib", "decay", "page-decay", "max-page-counts",
                                 "require", "no-plot",
                                 "max-trace-mib", "loop-to"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a.rfind("--", 0) != 0) {
      std::fprintf(stderr, "tiervm-sim: unexpected argument %s\n%s", a.c_str(), kUsage);
      return 2;
    }
    a = a.substr(2);
    const size_t eq = a.find('=');
    const std::string k = a.substr(0, eq);
    const std::string v = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (k == "trace") {
      f.traces.push_back(v);
      continue;
    }
    bool known = false;
    for (const char* n : kKnown) known |= k == n;
    if (!known) {
      std::fprintf(stderr, "tiervm-sim: unknown flag --%s\n%s", k.c_str(), kUsage);
      return 2;
    }
    f.kv[k] = v;
  }
  if (f.traces.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string dir = f.has("results-dir") ? f.kv["results-dir"] : "";
  if (dir.empty()) dir = std::getenv("TIERVM_RESULTS_DIR") ? std::getenv("TIERVM_RESULTS_DIR") : "results";
  std::system(("mkdir -p '" + dir + "'").c_str());

  // The planner's defaults are hplaced's.
  const tiervm::placement::TickPlannerConfig planner_defaults;
  double fmem_pct = 25, fmem_mib = 0, tick_ms = 100, headroom_pct = 1, budget_pct = 1, decay = 0.5,
         headroom_mib = static_cast<double>(planner_defaults.headroom_bytes) / 1048576.0,
         rate_mib = planner_defaults.rate_limit_mib_per_s,
         min_rate_mib = planner_defaults.min_rate_mib_per_s,
         min_hot_weight = planner_defaults.min_hot_weight_per_mib,
         min_exchange_gain = planner_defaults.min_exchange_gain,
         page_exchange_gain = planner_defaults.page_exchange_gain,
         page_decay = tiervm::placement::RangeTrackerConfig().page_decay_factor;
  uint64_t locate_refresh = static_cast<uint64_t>(planner_defaults.locate_refresh_ticks),
           locate_window = planner_defaults.locate_window_pages,
           restore_after = static_cast<uint64_t>(planner_defaults.restore_after_ticks),
           promote_hold = static_cast<uint64_t>(planner_defaults.promote_hold_epochs);
  uint64_t epoch_acc = 1ull << 23, window_acc = 0, epoch_ticks = 1,
           min_period = tiervm::placement::BudgetConfig().min_sample_period,
           period = tiervm::placement::BudgetConfig().initial_sample_period,
           min_range_kib = 2048, max_trace_mib = 2048, loop_to = 0,
           max_page_counts = tiervm::placement::RangeTrackerConfig().max_page_counts;
  LatencyModel lat;
  if (!GetDouble(f, "fmem-pct", &fmem_pct) || !GetDouble(f, "fmem-mib", &fmem_mib) ||
      !GetDouble(f, "fmem-ns", &lat.fmem_ns) || !GetDouble(f, "smem-ns", &lat.smem_ns) ||
      !GetDouble(f, "tick-ms", &tick_ms) || !GetDouble(f, "headroom-pct", &headroom_pct) ||
      !GetDouble(f, "rate-mib", &rate_mib) || !GetDouble(f, "headroom-mib", &headroom_mib) ||
      !GetDouble(f, "min-rate-mib", &min_rate_mib) ||
      !GetDouble(f, "min-hot-weight", &min_hot_weight) ||
      !GetDouble(f, "min-exchange-gain", &min_exchange_gain) ||
      !GetDouble(f, "page-exchange-gain", &page_exchange_gain) || !GetDouble(f, "budget-pct", &budget_pct) ||
      !GetDouble(f, "decay", &decay) || !GetDouble(f, "page-decay", &page_decay) ||
      !GetU64(f, "max-page-counts", &max_page_counts) || !GetU64(f, "epoch-accesses", &epoch_acc) ||
      !GetU64(f, "window-accesses", &window_acc) || !GetU64(f, "epoch-ticks", &epoch_ticks) ||
      !GetU64(f, "min-sample-period", &min_period) || !GetU64(f, "sample-period", &period) ||
      !GetU64(f, "min-range-kib", &min_range_kib) || !GetU64(f, "max-trace-mib", &max_trace_mib) ||
      !GetU64(f, "loop-to", &loop_to) || !GetU64(f, "locate-refresh-ticks", &locate_refresh) ||
      !GetU64(f, "locate-window-pages", &locate_window) ||
      !GetU64(f, "restore-after-ticks", &restore_after) ||
      !GetU64(f, "promote-hold-epochs", &promote_hold)) {
    return 2;
  }
  if (!(fmem_pct > 0 && fmem_pct <= 100) || epoch_acc == 0 || !(tick_ms > 0) || epoch_ticks == 0 ||
      epoch_ticks > 1000000 || !(headroom_pct >= 0 && headroom_pct < 100) || !(headroom_mib >= 0)) {
    std::fprintf(stderr,
                 "tiervm-sim: need 0 < fmem-pct <= 100, epoch-accesses > 0, tick-ms > 0, epoch-ticks >= 1, "
                 "0 <= headroom-pct < 100, headroom-mib >= 0\n");
    return 2;
  }
  if (window_acc == 0) window_acc = std::max<uint64_t>(1, epoch_acc / 8);
  std::vector<std::string> policies = {"tiervm", "oracle", "first_touch", "numab2_tpp", "memtis", "damon"};
  if (f.has("policies")) {
    policies = absl::StrSplit(f.kv["policies"], ',', absl::SkipEmpty());
    for (const auto& p : policies) {
      if (p != "tiervm" && p != "oracle" && p != "first_touch" && p != "numab2_tpp" && p != "memtis" &&
          p != "damon") {
        std::fprintf(stderr, "tiervm-sim: unknown policy %s\n", p.c_str());
        return 2;
      }
    }
  }
  // --require=TRACE:FRACTION[,TRACE:FRACTION...]
  std::map<std::string, double> required;
  if (f.has("require")) {
    for (absl::string_view item : absl::StrSplit(f.kv["require"], ',', absl::SkipEmpty())) {
      const size_t c = item.rfind(':');
      double frac = 0;
      if (c == absl::string_view::npos || c == 0 || !absl::SimpleAtod(item.substr(c + 1), &frac) ||
          !(frac >= 0 && frac <= 1)) {
        std::fprintf(stderr, "tiervm-sim: --require wants TRACE:FRACTION[,TRACE:FRACTION...], "
                             "FRACTION in [0, 1]\n");
        return 2;
      }
      required[std::string(item.substr(0, c))] = frac;
    }
  }
  const bool plot = !f.has("no-plot");
  const uint64_t page_bytes = f.has("thp") ? tiervm::placement::kHugePageBytes : tiervm::placement::kBasePageBytes;

  OursConfig oc;
  oc.tick_ns = static_cast<int64_t>(tick_ms * 1e6);
  oc.epoch_ticks = static_cast<int>(epoch_ticks);
  oc.headroom_max_frac = headroom_pct / 100;
  oc.planner.headroom_bytes = static_cast<uint64_t>(headroom_mib * 1048576.0);
  oc.planner.rate_limit_mib_per_s = rate_mib;
  oc.planner.min_rate_mib_per_s = min_rate_mib;
  oc.planner.min_hot_weight_per_mib = min_hot_weight;
  oc.planner.min_exchange_gain = min_exchange_gain;
  oc.planner.page_exchange_gain = page_exchange_gain;
  oc.planner.locate_refresh_ticks = static_cast<int64_t>(std::min<uint64_t>(locate_refresh, 1u << 20));
  oc.planner.locate_window_pages = locate_window;
  oc.planner.restore_after_ticks = static_cast<int64_t>(std::min<uint64_t>(restore_after, 1u << 20));
  oc.planner.promote_hold_epochs = static_cast<int64_t>(std::min<uint64_t>(promote_hold, 1u << 20));
  if (absl::Status st = oc.planner.Validate(); !st.ok()) {
    std::fprintf(stderr, "tiervm-sim: %s\n", st.ToString().c_str());
    return 2;
  }
  oc.budget_on = !f.has("no-budget");
  oc.fixed_sample_period = period;
  oc.budget.budget_pct = budget_pct;
  oc.budget.min_sample_period = min_period;
  oc.budget.sample_cost_ns = lat.pebs_sample_ns;
  if (oc.budget.initial_sample_period < min_period) oc.budget.initial_sample_period = min_period;
  oc.tracker.min_range_bytes = min_range_kib * 1024;
  oc.tracker.decay_factor = decay;
  oc.tracker.page_decay_factor = page_decay;
  oc.tracker.max_page_counts = max_page_counts;
  if (page_bytes == tiervm::placement::kHugePageBytes && oc.tracker.min_range_bytes < page_bytes) {
    oc.tracker.min_range_bytes = page_bytes;
  }
  const nlohmann::json run_config = {
      {"tick_ms", tick_ms},           {"epoch_ticks", epoch_ticks},
      {"headroom_pct", headroom_pct}, {"headroom_mib", headroom_mib},
      {"rate_limit_mib_per_s", rate_mib}, {"min_rate_mib_per_s", min_rate_mib},
      {"min_hot_weight_per_mib", min_hot_weight}, {"min_exchange_gain", min_exchange_gain},
      {"page_exchange_gain", page_exchange_gain},
      {"initial_move_cost_us_per_mib", oc.planner.initial_move_cost_us_per_mib},
      {"locate_refresh_ticks", oc.planner.locate_refresh_ticks},
      {"restore_after_ticks", oc.planner.restore_after_ticks},
      {"promote_hold_epochs", oc.planner.promote_hold_epochs},
      {"locate_window_pages", oc.planner.locate_window_pages},
      {"max_batch_pages", oc.max_batch_pages},
      {"budget_on", oc.budget_on},    {"budget_pct", budget_pct},
      {"min_sample_period", min_period}, {"fixed_sample_period", period},
      {"jitter_frac", oc.jitter_frac}, {"min_range_bytes", oc.tracker.min_range_bytes},
      {"max_ranges", oc.tracker.max_ranges}, {"decay_factor", decay},
      {"page_decay_factor", page_decay}, {"max_page_counts", max_page_counts}};

  int rc = 0;
  std::vector<nlohmann::json> summaries;
  for (const std::string& path : f.traces) {
    const auto t0 = std::chrono::steady_clock::now();
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(absl::NotFoundError("cannot open trace " + path));
    in.seekg(0, std::ios::end);
    const auto size = static_cast<uint64_t>(in.tellg());
    if (size > (max_trace_mib << 20)) {
      return Fail(absl::ResourceExhaustedError(path + ": larger than --max-trace-mib"));
    }
    in.seekg(0);
    std::string bytes(size, '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(size));
    if (!in) return Fail(absl::DataLossError("short read of " + path));
    absl::StatusOr<std::vector<Sample>> recs = tiervm::placement::DecodeTrace(bytes);
    if (!recs.ok()) return Fail(absl::Status(recs.status().code(), path + ": " + std::string(recs.status().message())));
    std::string().swap(bytes);
    // A short recording is replayed back to back until it reaches
    // --loop-to accesses, as a program repeating the recorded work.
    uint64_t loops = 1;
    if (loop_to > 0) {
      uint64_t acc = 0;
      for (const Sample& x : *recs) acc += x.weight;
      if (acc > 0 && acc < loop_to) {
        loops = (loop_to + acc - 1) / acc;
        if (loops * recs->size() > (1ull << 27)) {
          return Fail(absl::InvalidArgumentError(path + ": --loop-to would need more than 2^27 records"));
        }
        const std::vector<Sample> one = *recs;
        const int64_t span_ns = one.back().time_ns + 1;
        for (uint64_t l = 1; l < loops; ++l) {
          for (Sample x : one) {
            x.time_ns += static_cast<int64_t>(l) * span_ns;
            recs->push_back(x);
          }
        }
      }
    }
    absl::StatusOr<SimTrace> trace = SimTrace::Build(BaseName(path), *std::move(recs), page_bytes);
    if (!trace.ok()) return Fail(trace.status());
    SimConfig cfg;
    cfg.latency = lat;
    cfg.window_accesses = window_acc;
    cfg.fmem_capacity_pages =
        fmem_mib > 0 ? static_cast<uint64_t>(fmem_mib * 1048576.0 / static_cast<double>(page_bytes))
                     : static_cast<uint64_t>(fmem_pct / 100.0 * trace->touched_pages);
    if (cfg.fmem_capacity_pages == 0) cfg.fmem_capacity_pages = 1;
    TraceReport rep;
    rep.trace = &*trace;
    rep.config = cfg;
    rep.epoch_accesses = epoch_acc;
    rep.run_config = run_config;
    rep.run_config["trace_loops"] = loops;
    // The oracle runs first: its epoch sets give the phase changes.
    std::vector<std::string> order = policies;
    std::stable_partition(order.begin(), order.end(), [](const std::string& p) { return p == "oracle"; });
    SimConfig run_cfg = cfg;
    std::vector<std::vector<uint32_t>> reference_sets;
    std::vector<uint64_t> reference_first;
    for (const std::string& name : order) {
      std::unique_ptr<Policy> pol;
      OraclePolicy* oracle = nullptr;
      if (name == "tiervm") pol = std::make_unique<OursPolicy>(oc);
      if (name == "oracle") {
        auto o = std::make_unique<OraclePolicy>(epoch_acc);
        oracle = o.get();
        pol = std::move(o);
      }
      if (name == "first_touch") pol = std::make_unique<FirstTouchPolicy>();
      if (name == "numab2_tpp") pol = std::make_unique<TppPolicy>(TppConfig{});
      if (name == "memtis") pol = std::make_unique<MemtisPolicy>(MemtisConfig{});
      if (name == "damon") pol = std::make_unique<DamonPolicy>(DamonConfig{});
      Simulation sim(&*trace, run_cfg);
      if (absl::Status st = sim.Run(*pol); !st.ok()) return Fail(st);
      if (oracle != nullptr) {
        rep.phase_changes = FindPhaseChanges(oracle->prev_set_hit_fraction(), oracle->epoch_first_access(),
                                             oracle->epoch_accesses());
        // Every later policy is scored against the oracle's epoch sets.
        reference_sets = oracle->epoch_sets();
        reference_first = oracle->epoch_first_access();
        run_cfg.reference_sets = &reference_sets;
        run_cfg.reference_first_access = &reference_first;
      }
      rep.runs.push_back({name, sim.metrics(), pol->Extra()});
      std::fprintf(stderr, "%-14s %-12s hit %.4f  avg %.1f ns  migrated %llu\n", trace->name.c_str(),
                   name.c_str(), sim.metrics().HitRatio(),
                   sim.metrics().modelled_ns / static_cast<double>(sim.metrics().accesses),
                   static_cast<unsigned long long>(sim.metrics().promotions + sim.metrics().demotions));
    }
    rep.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (absl::Status st = WriteTraceOutputs(rep, dir, plot); !st.ok()) return Fail(st);
    nlohmann::json j = ToJson(rep);
    if (auto req = required.find(trace->name); req != required.end()) {
      const double require_frac = req->second;
      double ours = -1, orc = -1;
      for (const auto& p : j["policies"]) {
        if (p["name"] == "tiervm") ours = p["fmem_hit_ratio"].get<double>();
        if (p["name"] == "oracle") orc = p["fmem_hit_ratio"].get<double>();
      }
      if (ours < 0 || orc < 0 || ours < require_frac * orc) {
        std::fprintf(stderr, "tiervm-sim: REQUIREMENT NOT MET on %s: tiervm %.4f < %.2f x oracle %.4f\n",
                     trace->name.c_str(), ours, require_frac, orc);
        rc = 3;
      } else {
        std::fprintf(stderr, "tiervm-sim: requirement met on %s: tiervm %.4f >= %.2f x oracle %.4f\n",
                     trace->name.c_str(), ours, require_frac, orc);
      }
    }
    summaries.push_back(std::move(j));
  }
  for (const auto& [name, frac] : required) {
    bool seen = false;
    for (const auto& j : summaries) seen |= j["trace"] == name;
    if (!seen) {
      std::fprintf(stderr, "tiervm-sim: --require names trace %s, which was not run\n", name.c_str());
      rc = 3;
    }
  }
  if (absl::Status st = WriteSummary(summaries, dir, plot); !st.ok()) return Fail(st);
  return rc;
}

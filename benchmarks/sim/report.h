// Derived figures and output files of tiervm-sim: phase changes found from
// the oracle's per-epoch FMEM sets, time to 90 % of the oracle's hit ratio,
// and the JSON / CSV / gnuplot writers.  Field meanings: benchmarks/README.md.
// Pure functions apart from the writers (which touch only `dir`).
#ifndef TIERVM_BENCHMARKS_SIM_REPORT_H_
#define TIERVM_BENCHMARKS_SIM_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "sim/sim.h"

namespace tiervm::sim {

// An epoch starts a new phase when the previous epoch's oracle set would
// get less than `max_overlap` of the FMEM hits its own set gets
// (access-weighted, so random churn among rarely used pages does not
// count).  A last epoch shorter than half the others is not considered.
struct PhaseChange {
  size_t epoch = 0;
  uint64_t access = 0;  // first access of the epoch
};
std::vector<PhaseChange> FindPhaseChanges(const std::vector<double>& prev_set_hit_fraction,
                                          const std::vector<uint64_t>& first_access,
                                          const std::vector<uint64_t>& epoch_accesses,
                                          double max_overlap = 0.5);

// From `from_access` (a phase change or 0) until `until_access`: the first
// window starting at or after from_access from which the FMEM hit ratio
// stays at `fraction` of the oracle's (same windows) for `sustain_windows`
// windows in a row (fewer if the phase ends first).  Windows are the
// metrics' windows (identical for every policy on one trace).
struct Convergence {
  uint64_t from_access = 0;
  bool reached = false;
  uint64_t accesses = 0;  // from from_access to the end of that window
  double seconds = 0;     // modelled, same span
};
Convergence TimeToFractionOfOracle(const Metrics& policy, const Metrics& oracle,
                                   uint64_t from_access, uint64_t until_access,
                                   double fraction = 0.9, size_t sustain_windows = 4);

struct TraceReport {
  const SimTrace* trace = nullptr;
  SimConfig config;
  uint64_t epoch_accesses = 0;
  std::vector<PhaseChange> phase_changes;
  std::vector<RunResult> runs;  // the oracle among them, by name "oracle"
  nlohmann::json run_config;    // our policy's configuration, as run
  double wall_seconds = 0;
};

// Builds the JSON document of one trace (documented in benchmarks/README.md).
nlohmann::json ToJson(const TraceReport& r);

// Writes sim_<name>.json, sim_<name>.csv (one row per policy),
// sim_<name>_series.csv (windowed hit ratio per policy) and, when gnuplot
// runs, sim_<name>.png.  Returns the first I/O error.
absl::Status WriteTraceOutputs(const TraceReport& r, const std::string& dir, bool plot);

// Writes sim_summary.csv/.json (hit ratio per trace and policy) and a bar
// chart sim_summary.png.
absl::Status WriteSummary(const std::vector<nlohmann::json>& traces, const std::string& dir, bool plot);

}  // namespace tiervm::sim

#endif  // TIERVM_BENCHMARKS_SIM_REPORT_H_

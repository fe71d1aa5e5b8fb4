// OursPolicy: drives the real placement library (guest-driver/placement)
// the way hplaced does, inside the simulator.
//
// Per access: a PEBS-like sampler takes every Nth access (N = the budget
// controller's sample period, with ±jitter so that strided loops do not
// alias), charges the workload pebs_sample_ns per sample and buffers the
// Sample, as the PEBS buffer would.  Per tick (tick_ns of modelled time):
// the buffer is ingested into the RangeTracker, then Snapshot -> Classify ->
// PlanExchange against SimLocator (a PageLocator over the simulated page
// table), the plan's rounds are executed with Simulation::Move (demotions
// before promotions; a promotion that no longer fits is skipped, as the
// daemon's executor does), every epoch_ticks ticks EndEpoch, and the
// BudgetController is updated with the samples taken and a FakeClock that
// advances by modelled wall time and by the CPU time the library calls
// really took on this machine (CLOCK_THREAD_CPUTIME_ID).
//
// Owns: the tracker, controller, clock, locator and sample buffer.
// Thread-safety: none.
#ifndef TIERVM_BENCHMARKS_SIM_OURS_H_
#define TIERVM_BENCHMARKS_SIM_OURS_H_

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "placement/budget_controller.h"
#include "placement/classifier.h"
#include "placement/clock.h"
#include "placement/exchange_planner.h"
#include "placement/page_locator.h"
#include "placement/range_tracker.h"
#include "sim/sim.h"

namespace tiervm::sim {

// A PageLocator over a Simulation's page table (absent pages are not
// resident).  Reads the simulation it was given; not thread-safe.
class SimLocator final : public placement::PageLocator {
 public:
  explicit SimLocator(const Simulation* sim) : sim_(sim) {}
  absl::StatusOr<placement::Residency> Locate(Pid pid, Vaddr start, Vaddr end) const override;
  absl::Status ForEachPage(Pid pid, Vaddr start, Vaddr end,
                           absl::FunctionRef<bool(const placement::PageInfo&)> fn) const override;

 private:
  const Simulation* sim_;
};

struct OursConfig {
  int64_t tick_ns = 100'000'000;  // policy tick (500 ms was slower to converge, README)
  int epoch_ticks = 1;            // EndEpoch every this many ticks
  double headroom_frac = 0.01;    // of FMEM capacity, kept free
  double rate_limit_mib_per_s = 256;
  double jitter_frac = 0.125;     // sample period +- this fraction
  bool budget_on = true;
  uint64_t fixed_sample_period = 4093;  // used when budget_on is false
  placement::RangeTrackerConfig tracker;
  placement::BudgetConfig budget;
  uint64_t seed = 1;
};

class OursPolicy final : public Policy {
 public:
  explicit OursPolicy(const OursConfig& config);
  std::string Name() const override { return "tiervm"; }
  absl::Status Init(Simulation& sim) override;
  double OnAccess(Simulation& sim, uint64_t index, uint32_t page) override;
  int64_t NextWakeNs() const override { return next_tick_ns_; }
  absl::Status Wake(Simulation& sim) override;
  std::vector<std::pair<std::string, double>> Extra() const override;

  // Measured CPU of RangeTracker::Ingest per sample, and of all library
  // calls (ingest, snapshot, classify, plan, epoch) per sample.
  double ingest_ns_per_sample() const;
  double library_ns_per_sample() const;
  uint64_t sample_period() const { return period_; }

 private:
  void Flush();
  int64_t NextGap();

  OursConfig c_;
  placement::RangeTracker tracker_;
  placement::FakeClock clock_;
  std::unique_ptr<placement::BudgetController> budget_;
  std::unique_ptr<SimLocator> locator_;
  std::mt19937_64 rng_;
  std::vector<Sample> buffer_;
  uint64_t period_ = 4093;
  int64_t countdown_ = 0;
  int64_t next_tick_ns_ = 0;
  int64_t last_tick_ns_ = 0;
  uint64_t ticks_ = 0;
  uint64_t samples_ = 0;
  uint64_t samples_since_update_ = 0;
  int64_t ingest_cpu_ns_ = 0;
  int64_t library_cpu_ns_ = 0;
  int64_t cpu_since_update_ns_ = 0;
  uint64_t planned_moves_ = 0;
  uint64_t skipped_moves_ = 0;
  uint64_t over_budget_ticks_ = 0;
  double max_smoothed_pct_ = 0;
  uint64_t min_period_seen_ = UINT64_MAX;
  uint64_t max_period_seen_ = 0;
};

}  // namespace tiervm::sim

#endif  // TIERVM_BENCHMARKS_SIM_OURS_H_

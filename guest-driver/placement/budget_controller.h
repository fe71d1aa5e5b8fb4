// BudgetController: keeps placement's CPU cost under a budget by adjusting
// the sampling intensity (closed loop; Demeter's duty cycle is open loop).
//
// Cost counted = the daemon's own CPU time (from the Clock) + the estimated
// cost the samplers impose on the workload: PEBS records (PMI and drain,
// ~200-300 ns each [AK17]) and accessed-bit scanning (per page scanned).
// Each Update() measures the cost over the window since the previous call,
// smooths it, and scales the sample period (and the A-bit scan rate) by the
// ratio of target to measured use: sample counts are proportional to
// 1/period, so the loop converges in a few windows and a dead band keeps it
// from chattering.
//
// Owns: its state only; reads the Clock it was given (not owned, must
// outlive the controller).  One thread.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_BUDGET_CONTROLLER_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_BUDGET_CONTROLLER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "placement/clock.h"

namespace tiervm::placement {

struct BudgetConfig {
  double budget_pct = 1.0;  // of one vCPU
  // Aim this far below the budget so noise does not cross it.
  double target_fraction = 0.85;
  // No change while measured use is within this relative band of target.
  double dead_band = 0.05;
  // At most this factor of change per Update, either way.
  double max_step = 2.0;
  // Weight of the newest window in the smoothed use, (0, 1].
  double smoothing = 0.5;
  double sample_cost_ns = 250;        // per PEBS record, paid by the workload
  double scan_cost_ns_per_page = 20;  // per PTE the A-bit scanner visits
  uint64_t min_sample_period = 1009;  // events per sample; primes avoid
  uint64_t max_sample_period = 1048573;  // aliasing with loop strides
  uint64_t initial_sample_period = 4093;  // Demeter's default
  double min_scan_pages_per_s = 1 << 12;
  double max_scan_pages_per_s = 1 << 24;
  double initial_scan_pages_per_s = 1 << 18;

  absl::Status Validate() const;
};

struct BudgetReport {
  int64_t window_ns = 0;
  double used_pct = 0;      // own + sampling + scanning, this window
  double own_cpu_pct = 0;
  double sampling_pct = 0;  // estimated PEBS cost
  double scan_pct = 0;      // estimated A-bit scan cost
  double smoothed_pct = 0;  // what the control law acts on
  double budget_pct = 0;
  bool over_budget = false;  // smoothed use above the budget
  uint64_t sample_period = 0;        // to apply from now on
  double scan_pages_per_s = 0;       // to apply from now on
};

class BudgetController {
 public:
  // CHECK-fails on an invalid config (validate user input first).
  BudgetController(const BudgetConfig& config, const Clock* clock);

  // Call once per control window with the samples taken and pages scanned
  // since the previous call.  The first call only starts the window.
  BudgetReport Update(uint64_t samples, uint64_t pages_scanned);

  uint64_t sample_period() const { return sample_period_; }
  double scan_pages_per_s() const { return scan_pages_per_s_; }
  const BudgetReport& last_report() const { return last_; }

 private:
  BudgetConfig config_;
  const Clock* clock_;
  bool started_ = false;
  int64_t last_wall_ns_ = 0;
  int64_t last_cpu_ns_ = 0;
  double smoothed_pct_ = -1;  // < 0: no measurement yet
  double intensity_;          // initial_sample_period / sample_period
  uint64_t sample_period_;
  double scan_pages_per_s_;
  BudgetReport last_;
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_BUDGET_CONTROLLER_H_

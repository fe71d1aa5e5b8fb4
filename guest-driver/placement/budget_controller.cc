#include "placement/budget_controller.h"

#include <algorithm>
#include <cmath>

#include "placement/check.h"

namespace tiervm::placement {

absl::Status BudgetConfig::Validate() const {
  if (!(budget_pct > 0 && budget_pct <= 100)) {
    return absl::InvalidArgumentError("budget_pct must be in (0, 100]");
  }
  if (!(sampling_share > 0 && sampling_share <= 1)) {
    return absl::InvalidArgumentError("sampling_share must be in (0, 1]");
  }
  if (!(burst_s >= 0 && burst_s <= 3600)) {
    return absl::InvalidArgumentError("burst_s must be in [0, 3600]");
  }
  if (!(max_debt_s >= 0 && max_debt_s <= 3600)) {
    return absl::InvalidArgumentError("max_debt_s must be in [0, 3600]");
  }
  if (!(target_fraction > 0 && target_fraction <= 1) || !(dead_band >= 0 && dead_band < 1) ||
      !(max_step > 1) || !(smoothing > 0 && smoothing <= 1)) {
    return absl::InvalidArgumentError(
        "need target_fraction in (0,1], dead_band in [0,1), max_step > 1, "
        "smoothing in (0,1]");
  }
  if (!(sample_cost_ns >= 0) || !(scan_cost_ns_per_page >= 0)) {
    return absl::InvalidArgumentError("costs must be >= 0");
  }
  if (min_sample_period < 1 || min_sample_period > initial_sample_period ||
      initial_sample_period > max_sample_period) {
    return absl::InvalidArgumentError("need 1 <= min <= initial <= max sample period");
  }
  if (!(min_scan_pages_per_s > 0) || !(min_scan_pages_per_s <= initial_scan_pages_per_s) ||
      !(initial_scan_pages_per_s <= max_scan_pages_per_s)) {
    return absl::InvalidArgumentError("need 0 < min <= initial <= max scan rate");
  }
  return absl::OkStatus();
}

BudgetController::BudgetController(const BudgetConfig& config, const Clock* clock)
    : config_(config),
      clock_(clock),
      credit_ns_(static_cast<int64_t>(config.budget_pct / 100 * config.burst_s * 1e9)),
      credit_cap_ns_(credit_ns_),
      debt_cap_ns_(static_cast<int64_t>(config.budget_pct / 100 * config.max_debt_s * 1e9)),
      intensity_(1.0),
      sample_period_(config.initial_sample_period),
      scan_pages_per_s_(config.initial_scan_pages_per_s) {
  PLACEMENT_CHECK(config_.Validate().ok());
  PLACEMENT_CHECK(clock_ != nullptr);
  last_.budget_pct = config_.budget_pct;
  last_.sample_period = sample_period_;
  last_.scan_pages_per_s = scan_pages_per_s_;
  last_.credit_ns = credit_ns_;
}

int64_t BudgetController::ForgiveDebt() {
  if (credit_ns_ >= 0) return 0;
  const int64_t forgiven = -credit_ns_;
  credit_ns_ = 0;
  last_.credit_ns = 0;
  last_.over_budget = false;
  return forgiven;
}

BudgetReport BudgetController::Update(uint64_t samples, uint64_t pages_scanned,
                                      int64_t other_cpu_ns, int64_t exempt_cpu_ns) {
  const int64_t wall = clock_->MonotonicNs();
  const int64_t cpu = clock_->OwnCpuNs();
  if (!started_) {
    // First call: only starts the window.
    started_ = true;
    last_wall_ns_ = wall;
    last_cpu_ns_ = cpu;
    return last_;
  }
  if (wall <= last_wall_ns_) {
    // A clock that did not move: no rates to measure, but what was spent
    // is still paid for (two updates within one clock tick must not hand
    // out the same credit twice).
    const int64_t own = std::max<int64_t>(0, cpu - last_cpu_ns_);
    const double spent_ns =
        static_cast<double>(own - std::clamp<int64_t>(exempt_cpu_ns, 0, own)) +
        static_cast<double>(samples) * RecordCostNs() +
        static_cast<double>(pages_scanned) * config_.scan_cost_ns_per_page;
    credit_ns_ = std::max(-debt_cap_ns_,
                          static_cast<int64_t>(static_cast<double>(credit_ns_) - spent_ns));
    last_cpu_ns_ = cpu;
    last_.credit_ns = credit_ns_;
    last_.over_budget = credit_ns_ < 0;
    return last_;
  }
  BudgetReport r;
  r.window_ns = wall - last_wall_ns_;
  const double window = static_cast<double>(r.window_ns);
  const int64_t own_ns = std::max<int64_t>(0, cpu - last_cpu_ns_);
  // The caller's split cannot exceed what the clock saw.
  const int64_t other_ns = std::clamp<int64_t>(other_cpu_ns, 0, own_ns);
  const int64_t exempt_ns = std::clamp<int64_t>(exempt_cpu_ns, 0, other_ns);
  const double estimated_ns = static_cast<double>(samples) * RecordCostNs() +
                              static_cast<double>(pages_scanned) * config_.scan_cost_ns_per_page;
  r.own_cpu_pct = 100.0 * static_cast<double>(own_ns) / window;
  r.other_pct = 100.0 * static_cast<double>(other_ns) / window;
  r.exempt_pct = 100.0 * static_cast<double>(exempt_ns) / window;
  r.sampling_pct = 100.0 * static_cast<double>(samples) * RecordCostNs() / window;
  r.scan_pct =
      100.0 * static_cast<double>(pages_scanned) * config_.scan_cost_ns_per_page / window;
  r.used_pct = r.own_cpu_pct + r.sampling_pct + r.scan_pct;
  last_wall_ns_ = wall;
  last_cpu_ns_ = cpu;

  // The bucket: earn the budget for this window, pay for everything.
  const double earned_ns = config_.budget_pct / 100 * window;
  const double spent_ns = static_cast<double>(own_ns - exempt_ns) + estimated_ns;
  const double credit = static_cast<double>(credit_ns_) + earned_ns - spent_ns;
  credit_ns_ = static_cast<int64_t>(std::clamp(credit, -static_cast<double>(debt_cap_ns_),
                                               static_cast<double>(credit_cap_ns_)));
  r.credit_ns = credit_ns_;
  r.over_budget = credit_ns_ < 0;

  const double sampling_side = r.used_pct - r.other_pct;
  smoothed_pct_ = smoothed_pct_ < 0
                      ? sampling_side
                      : config_.smoothing * sampling_side + (1 - config_.smoothing) * smoothed_pct_;
  r.smoothed_pct = smoothed_pct_;
  // Long-run use: an EWMA whose time constant is the bucket's length.
  const double alpha =
      config_.burst_s > 0 ? std::min(1.0, window / (config_.burst_s * 1e9)) : 1.0;
  long_pct_ = long_pct_ < 0 ? r.used_pct : alpha * r.used_pct + (1 - alpha) * long_pct_;
  r.long_pct = long_pct_;
  r.budget_pct = config_.budget_pct;

  const double target = config_.budget_pct * config_.target_fraction * config_.sampling_share;
  const double ratio = smoothed_pct_ > 0 ? target / smoothed_pct_ : config_.max_step;
  if (std::abs(ratio - 1) > config_.dead_band) {
    const double step = std::clamp(ratio, 1 / config_.max_step, config_.max_step);
    // Intensity is bounded by the limits of the knob in use; clamp it there
    // so that a long saturated stretch does not wind up (integrator windup).
    const bool scan = config_.knob == SamplingKnob::kScanRate;
    const double lo = scan ? config_.min_scan_pages_per_s / config_.initial_scan_pages_per_s
                           : static_cast<double>(config_.initial_sample_period) /
                                 static_cast<double>(config_.max_sample_period);
    const double hi = scan ? config_.max_scan_pages_per_s / config_.initial_scan_pages_per_s
                           : static_cast<double>(config_.initial_sample_period) /
                                 static_cast<double>(config_.min_sample_period);
    intensity_ = std::clamp(intensity_ * step, lo, hi);
    // Odd periods: an even period locks onto power-of-two strides.
    uint64_t period = static_cast<uint64_t>(
        std::llround(static_cast<double>(config_.initial_sample_period) / intensity_));
    period |= 1;
    sample_period_ = std::clamp(period, config_.min_sample_period, config_.max_sample_period);
    scan_pages_per_s_ = std::clamp(config_.initial_scan_pages_per_s * intensity_,
                                   config_.min_scan_pages_per_s, config_.max_scan_pages_per_s);
  }
  r.sample_period = sample_period_;
  r.scan_pages_per_s = scan_pages_per_s_;
  last_ = r;
  return r;
}

}  // namespace tiervm::placement

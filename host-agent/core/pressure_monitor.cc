#include "core/pressure_monitor.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace tiervm::agent {

absl::StatusOr<PressureMonitor> PressureMonitor::Create(
    const PressureConfig& c) {
  if (!(c.high_free_bytes < c.min_low_free_bytes &&
        c.min_low_free_bytes <= c.initial_low_free_bytes &&
        c.initial_low_free_bytes <= c.max_low_free_bytes)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "pressure: need high_free_bytes (%d) < min_low_free_bytes (%d) <= "
        "initial_low_free_bytes (%d) <= max_low_free_bytes (%d)",
        c.high_free_bytes, c.min_low_free_bytes, c.initial_low_free_bytes,
        c.max_low_free_bytes));
  }
  if (c.adapt_step_bytes == 0 || c.adapt_period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "pressure: adapt_step_bytes and adapt_period must be positive");
  }
  return PressureMonitor(c);
}

PressureMonitor::PressureMonitor(const PressureConfig& config)
    : config_(config), low_free_bytes_(config.initial_low_free_bytes) {}

PressureLevel PressureMonitor::Observe(uint64_t host_free_fmem_bytes,
                                       absl::Time now) {
  if (period_start_ == absl::InfinitePast()) period_start_ = now;
  // After a long gap (agent paused, clock jump) the empty periods carry no
  // information about how often the high threshold fires; skip them.
  if (now - period_start_ > 2 * config_.adapt_period) {
    period_start_ = now - config_.adapt_period;
  }
  // Close every period that has ended before classifying this tick, so the
  // tick counts towards the period it falls in.
  while (now - period_start_ >= config_.adapt_period) {
    const uint32_t expected = config_.expected_high_ticks_per_period;
    if (high_ticks_in_period_ > expected) {
      low_free_bytes_ = std::min(config_.max_low_free_bytes,
                                 low_free_bytes_ + config_.adapt_step_bytes);
    } else if (high_ticks_in_period_ < expected) {
      low_free_bytes_ =
          std::max(config_.min_low_free_bytes,
                   low_free_bytes_ -
                       std::min(low_free_bytes_, config_.adapt_step_bytes));
    }
    high_ticks_in_period_ = 0;
    period_start_ += config_.adapt_period;
  }
  if (host_free_fmem_bytes < config_.high_free_bytes) {
    ++high_ticks_in_period_;
    return PressureLevel::kHigh;
  }
  if (host_free_fmem_bytes < low_free_bytes_) return PressureLevel::kLow;
  return PressureLevel::kNone;
}

std::vector<PressureLevel> PressureMonitor::PerVm(const HostSnapshot& snap,
                                                  PressureLevel host_level) {
  std::vector<PressureLevel> levels;
  levels.reserve(snap.size());
  for (const VmView& vm : snap.vms()) {
    const bool above_min =
        vm.state.fmem_actual_bytes > vm.config.min_fmem_bytes;
    levels.push_back(above_min ? host_level : PressureLevel::kNone);
  }
  return levels;
}

}  // namespace tiervm::agent

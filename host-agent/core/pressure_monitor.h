// M3-style host pressure signals.  Two thresholds on free host FMEM:
//   free < high_free_bytes  -> PressureLevel::kHigh ("give memory back now")
//   free < low_free_bytes   -> PressureLevel::kLow  ("slow your growth")
// high_free_bytes is fixed (the host's safety margin).  low_free_bytes
// adapts, as M3's monitor does, to how often the high threshold is hit:
// each adapt_period, if the high level was seen on more ticks than
// expected_high_ticks_per_period the low threshold moves up by
// adapt_step_bytes (warn earlier), if on fewer it moves down (warn less
// needlessly); it stays within [min_low_free_bytes, max_low_free_bytes].
//
// The host level is written to the device pressure_level of every VM that
// holds FMEM above its minimum; VMs at their minimum get kNone since they
// have nothing to give back.
//
// Owns: the adaptive threshold and per-period counters.
// Thread-safety: not synchronized; one instance per agent loop.
#ifndef TIERVM_HOST_AGENT_CORE_PRESSURE_MONITOR_H_
#define TIERVM_HOST_AGENT_CORE_PRESSURE_MONITOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/host_snapshot.h"
#include "core/vm_model.h"

namespace tiervm::agent {

struct PressureConfig {
  uint64_t high_free_bytes = 512 * kMiB;
  uint64_t initial_low_free_bytes = 2 * kGiB;
  uint64_t min_low_free_bytes = 1 * kGiB;
  uint64_t max_low_free_bytes = 8 * kGiB;
  uint64_t adapt_step_bytes = 256 * kMiB;
  absl::Duration adapt_period = absl::Minutes(1);
  uint32_t expected_high_ticks_per_period = 1;
};

class PressureMonitor {
 public:
  // InvalidArgument unless high < min_low <= initial_low <= max_low, the
  // step is non-zero and the period positive.
  static absl::StatusOr<PressureMonitor> Create(const PressureConfig& config);

  // Classifies `host_free_fmem_bytes` and advances the adaptation.  Call
  // once per tick with a non-decreasing `now`.
  PressureLevel Observe(uint64_t host_free_fmem_bytes, absl::Time now);

  uint64_t low_free_bytes() const { return low_free_bytes_; }
  uint64_t high_free_bytes() const { return config_.high_free_bytes; }

  // Per-VM levels (snapshot order) for a host level.
  static std::vector<PressureLevel> PerVm(const HostSnapshot& snap,
                                          PressureLevel host_level);

 private:
  explicit PressureMonitor(const PressureConfig& config);

  PressureConfig config_;
  uint64_t low_free_bytes_;
  absl::Time period_start_ = absl::InfinitePast();
  uint32_t high_ticks_in_period_ = 0;
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_PRESSURE_MONITOR_H_

#include "core/guard.h"

#include <algorithm>

#include "core/check.h"

namespace tiervm::agent {

const char* GuardVerdictName(GuardVerdict v) {
  switch (v) {
    case GuardVerdict::kFree:
      return "free";
    case GuardVerdict::kStalled:
      return "stalled";
    case GuardVerdict::kStaleTelemetry:
      return "stale-telemetry";
    case GuardVerdict::kBudgetOverride:
      return "budget-override";
  }
  return "?";
}

VmRange GuardRange(const VmView& vm, const GuardConfig& config) {
  const VmConfig& c = vm.config;
  const uint64_t target = vm.state.fmem_target_bytes;
  VmRange r;

  uint64_t shrink_step = 0;
  if (!vm.telemetry_fresh) {
    r.verdict = GuardVerdict::kStaleTelemetry;
    shrink_step = config.min_shrink_step_bytes;
  } else {
    const Telemetry& t = *vm.telemetry;
    const bool stalled = t.psi_some_ppm > c.psi_some_target_ppm ||
                         t.smem_access_share_ppm > c.smem_share_target_ppm;
    if (stalled) {
      r.verdict = GuardVerdict::kStalled;
    } else {
      const double base = std::max<double>(
          config.min_shrink_step_bytes,
          static_cast<double>(target) * config.shrink_step_ppm / kPpmOne);
      // psi <= target here, so the factor is in [0, 1].  A zero target
      // means "never stall": only a VM with zero PSI may be shrunk.
      const double headroom = c.psi_some_target_ppm == 0
                                  ? (t.psi_some_ppm == 0 ? 1.0 : 0.0)
                                  : 1.0 - static_cast<double>(t.psi_some_ppm) /
                                              c.psi_some_target_ppm;
      shrink_step = static_cast<uint64_t>(base * headroom);
    }
  }
  shrink_step &= ~(config.step_granule_bytes - 1);

  const uint64_t floor = target > shrink_step ? target - shrink_step : 0;
  // Saturating: a huge configured step must not wrap.
  const uint64_t ceil =
      target + std::min(config.max_grow_step_bytes, UINT64_MAX - target);
  r.lo_bytes = std::clamp(floor, c.min_fmem_bytes, c.max_fmem_bytes);
  r.hi_bytes = std::clamp(ceil, r.lo_bytes, c.max_fmem_bytes);
  return r;
}

void FitFloorsToBudget(const HostSnapshot& snap, std::vector<VmRange>* ranges) {
  TIERVM_CHECK(ranges->size() == snap.size(), "one range per VM");
  uint64_t sum_lo = 0;
  uint64_t sum_soft = 0;  // Σ (lo - min): the part the guard added
  for (size_t i = 0; i < snap.size(); ++i) {
    sum_lo += (*ranges)[i].lo_bytes;
    sum_soft += (*ranges)[i].lo_bytes - snap.vm(i).config.min_fmem_bytes;
  }
  const uint64_t budget = snap.fmem_budget_bytes();
  if (sum_lo <= budget) return;
  const uint64_t sum_min = sum_lo - sum_soft;
  TIERVM_CHECK(sum_min <= budget, "HostSnapshot guarantees Σ min <= budget");
  // Keep the same fraction of every VM's soft floor.  Integer arithmetic
  // (128-bit to avoid overflow) rounding down keeps the sum within budget,
  // which floating point would not guarantee.
  const unsigned __int128 keep_num = budget - sum_min;
  for (size_t i = 0; i < snap.size(); ++i) {
    VmRange& r = (*ranges)[i];
    const uint64_t min = snap.vm(i).config.min_fmem_bytes;
    const uint64_t soft = r.lo_bytes - min;
    if (soft == 0) continue;
    r.lo_bytes = min + static_cast<uint64_t>(soft * keep_num / sum_soft);
    r.verdict = GuardVerdict::kBudgetOverride;
  }
}

std::vector<VmRange> GuardRanges(const HostSnapshot& snap,
                                 const GuardConfig& config) {
  std::vector<VmRange> ranges;
  ranges.reserve(snap.size());
  for (const VmView& vm : snap.vms()) ranges.push_back(GuardRange(vm, config));
  FitFloorsToBudget(snap, &ranges);
  return ranges;
}

}  // namespace tiervm::agent

// The TMO/Senpai-style guard: per VM, the range of FMEM a policy may choose
// this period.  Policies decide *where* FMEM is worth most; the guard
// decides how fast any VM may lose or gain it:
//   * a VM whose memory PSI "some" or SMEM access share is above its target
//     is not shrunk at all (it is already paying for slow memory);
//   * otherwise a shrink is bounded by max(min_shrink_step_bytes,
//     shrink_step_ppm × target) × (1 − psi/psi_target): the closer the VM is
//     to its stall target, the more gently FMEM is taken (Senpai's
//     reclaim_ratio × (1 − psi/threshold));
//   * a VM without fresh telemetry may shrink by min_shrink_step_bytes only;
//   * growth is bounded by max_grow_step_bytes per period;
//   * min/max always win; if the guard's floors together exceed the budget
//     (the budget was lowered), they are scaled back towards the minimums.
//
// Pure functions; no state.
#ifndef TIERVM_HOST_AGENT_CORE_GUARD_H_
#define TIERVM_HOST_AGENT_CORE_GUARD_H_

#include <cstdint>
#include <vector>

#include "core/host_snapshot.h"

namespace tiervm::agent {

struct GuardConfig {
  uint64_t min_shrink_step_bytes = 64 * kMiB;
  uint32_t shrink_step_ppm = 100'000;  // 10 % of the current target
  uint64_t max_grow_step_bytes = 1 * kGiB;
  // Steps are rounded down to this (power of two), so that aligned targets
  // stay aligned (the device works in 2 MiB blocks).
  uint64_t step_granule_bytes = 2 * kMiB;
};

// Why a VM's range is what it is (reported in status and tick results).
enum class GuardVerdict : uint8_t {
  kFree,            // shrink bounded by the Senpai step only
  kStalled,         // PSI or SMEM share above target: no shrink
  kStaleTelemetry,  // no fresh telemetry: minimal shrink step
  kBudgetOverride,  // floors scaled back because they exceeded the budget
};

const char* GuardVerdictName(GuardVerdict v);

struct VmRange {
  uint64_t lo_bytes = 0;  // min_fmem_bytes <= lo <= hi <= max_fmem_bytes
  uint64_t hi_bytes = 0;
  GuardVerdict verdict = GuardVerdict::kFree;
};

// The range for one VM, ignoring the budget.
VmRange GuardRange(const VmView& vm, const GuardConfig& config);

// Ranges for every VM of the snapshot (snapshot order), with the floors
// scaled back if Σ lo exceeds the budget.  Postcondition: Σ lo <= budget.
std::vector<VmRange> GuardRanges(const HostSnapshot& snap,
                                 const GuardConfig& config);

// Lowers floors (never below min) until Σ lo <= budget; marks lowered VMs
// kBudgetOverride.  Requires Σ min <= budget (HostSnapshot guarantees it).
void FitFloorsToBudget(const HostSnapshot& snap, std::vector<VmRange>* ranges);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_GUARD_H_

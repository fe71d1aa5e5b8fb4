// "utility" (the default policy): maximise Σ_vm weight × (share of the
// VM's accesses served by FMEM), reading each VM's share from its hotness
// curve, within the guard's per-VM range and the host FMEM budget.
//
// Algorithm: every VM starts at its guard floor; the rest of the budget is
// handed out greedily, steepest first, over the segments of each curve's
// upper concave envelope clipped to the VM's range (value of a byte =
// weight × slope in ppm/byte).  On concave curves this is optimal; on
// others it is optimal for the envelope.  FMEM on flat parts of every curve
// is left unassigned (free for the host).  A VM without fresh telemetry (or
// with an empty curve) is treated as if its accesses were spread evenly
// over max_fmem_bytes.  Cost: O(P log P) for P envelope segments in total.
#ifndef TIERVM_HOST_AGENT_CORE_UTILITY_POLICY_H_
#define TIERVM_HOST_AGENT_CORE_UTILITY_POLICY_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/policy.h"

namespace tiervm::agent {

inline constexpr std::string_view kUtilityPolicyName = "utility";

class UtilityPolicy final : public FmemPolicy {
 public:
  explicit UtilityPolicy(const PolicyArgs& args) : args_(args) {}
  std::string_view name() const override { return kUtilityPolicyName; }
  FmemPlan Decide(const HostSnapshot& snap) const override;

 private:
  PolicyArgs args_;
};

absl::StatusOr<std::unique_ptr<FmemPolicy>> MakeUtilityPolicy(
    const PolicyArgs& args);

// Rounds every desired size down to `granule_bytes` but not below the
// VM's floor.  Shared by the policies; keeps Σ within the budget.
void AlignToGranule(const std::vector<VmRange>& ranges, uint64_t granule_bytes,
                    FmemPlan* plan);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_UTILITY_POLICY_H_

#include "core/static_policy.h"

#include <algorithm>
#include <vector>

namespace tiervm::agent {

FmemPlan StaticPolicy::Decide(const HostSnapshot& snap) const {
  // Reuse the guard's budget fitting with the current size as a floor.
  std::vector<VmRange> ranges(snap.size());
  for (size_t i = 0; i < snap.size(); ++i) {
    const VmConfig& c = snap.vm(i).config;
    const uint64_t x = std::clamp(snap.vm(i).state.fmem_target_bytes,
                                  c.min_fmem_bytes, c.max_fmem_bytes);
    ranges[i] = {x, x, GuardVerdict::kFree};
  }
  FitFloorsToBudget(snap, &ranges);
  FmemPlan plan;
  plan.policy = std::string(kStaticPolicyName);
  plan.vms.reserve(snap.size());
  for (const VmRange& r : ranges) plan.vms.push_back({r.lo_bytes, r.verdict});
  return plan;
}

absl::StatusOr<std::unique_ptr<FmemPolicy>> MakeStaticPolicy(
    const PolicyArgs& args) {
  if (absl::Status s = ValidatePolicyArgs(args); !s.ok()) return s;
  return std::make_unique<StaticPolicy>();
}

}  // namespace tiervm::agent

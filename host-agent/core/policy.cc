#include "core/policy.h"

#include "absl/strings/str_format.h"

namespace tiervm::agent {

absl::Status ValidatePolicyArgs(const PolicyArgs& args) {
  const uint64_t g = args.granule_bytes;
  if (g == 0 || (g & (g - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("policy: granule_bytes %d is not a power of two", g));
  }
  const uint64_t sg = args.guard.step_granule_bytes;
  if (sg == 0 || (sg & (sg - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "policy: guard.step_granule_bytes %d is not a power of two", sg));
  }
  if (args.guard.shrink_step_ppm > kPpmOne) {
    return absl::InvalidArgumentError(
        absl::StrFormat("policy: guard.shrink_step_ppm %d above %d",
                        args.guard.shrink_step_ppm, kPpmOne));
  }
  return absl::OkStatus();
}

uint64_t FmemPlan::SumDesiredBytes() const {
  uint64_t sum = 0;
  for (const VmDecision& d : vms) sum += d.desired_fmem_bytes;
  return sum;
}

absl::Status ValidatePlan(const HostSnapshot& snap, const FmemPlan& plan) {
  if (plan.vms.size() != snap.size()) {
    return absl::InternalError(
        absl::StrFormat("policy %s: %d decisions for %d VMs", plan.policy,
                        plan.vms.size(), snap.size()));
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < snap.size(); ++i) {
    const VmConfig& c = snap.vm(i).config;
    const uint64_t d = plan.vms[i].desired_fmem_bytes;
    if (d < c.min_fmem_bytes || d > c.max_fmem_bytes) {
      return absl::InternalError(absl::StrFormat(
          "policy %s: VM '%s' desired %d outside [%d, %d]", plan.policy,
          snap.vm(i).id, d, c.min_fmem_bytes, c.max_fmem_bytes));
    }
    sum += d;
  }
  if (sum > snap.fmem_budget_bytes()) {
    return absl::InternalError(
        absl::StrFormat("policy %s: Σ desired %d exceeds budget %d",
                        plan.policy, sum, snap.fmem_budget_bytes()));
  }
  return absl::OkStatus();
}

}  // namespace tiervm::agent

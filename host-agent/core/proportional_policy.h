// "proportional": FMEM in proportion to weight, ignoring telemetry except
// through the guard.  desired_i = clamp(weight_i × L, lo_i, hi_i) with the
// largest water level L for which Σ desired <= budget (found by bisection,
// 64 rounds × #VMs).  The baseline the utility policy is compared against.
#ifndef TIERVM_HOST_AGENT_CORE_PROPORTIONAL_POLICY_H_
#define TIERVM_HOST_AGENT_CORE_PROPORTIONAL_POLICY_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/policy.h"

namespace tiervm::agent {

inline constexpr std::string_view kProportionalPolicyName = "proportional";

class ProportionalPolicy final : public FmemPolicy {
 public:
  explicit ProportionalPolicy(const PolicyArgs& args) : args_(args) {}
  std::string_view name() const override { return kProportionalPolicyName; }
  FmemPlan Decide(const HostSnapshot& snap) const override;

 private:
  PolicyArgs args_;
};

absl::StatusOr<std::unique_ptr<FmemPolicy>> MakeProportionalPolicy(
    const PolicyArgs& args);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_PROPORTIONAL_POLICY_H_

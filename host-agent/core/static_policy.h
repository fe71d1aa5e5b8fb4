// "static": leave every VM where it is.  desired = current target clamped
// to [min, max]; if that over-commits the budget (the budget was lowered),
// the excess above the minimums is taken back proportionally.  Ignores
// telemetry and the guard's step bounds: it is the "agent off, bounds
// still enforced" mode and the static-partitioning baseline.
#ifndef TIERVM_HOST_AGENT_CORE_STATIC_POLICY_H_
#define TIERVM_HOST_AGENT_CORE_STATIC_POLICY_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/policy.h"

namespace tiervm::agent {

inline constexpr std::string_view kStaticPolicyName = "static";

class StaticPolicy final : public FmemPolicy {
 public:
  std::string_view name() const override { return kStaticPolicyName; }
  FmemPlan Decide(const HostSnapshot& snap) const override;
};

absl::StatusOr<std::unique_ptr<FmemPolicy>> MakeStaticPolicy(
    const PolicyArgs& args);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_STATIC_POLICY_H_

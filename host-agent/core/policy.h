// FmemPolicy: decides how much FMEM each VM should have.  A policy is a
// pure function of one HostSnapshot (same snapshot, same plan); it owns no
// state across ticks, so a restarted agent decides exactly as the old one
// would have.  Policies are created by name from the PolicyRegistry.
#ifndef TIERVM_HOST_AGENT_CORE_POLICY_H_
#define TIERVM_HOST_AGENT_CORE_POLICY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/guard.h"
#include "core/host_snapshot.h"

namespace tiervm::agent {

// Knobs shared by the built-in policies (from the agent config).
struct PolicyArgs {
  GuardConfig guard;
  // Desired sizes are rounded down to this (but never below the guard's
  // floor), so that tiny utility differences do not cause churn and
  // requests match the balloon's 2 MiB page order.  Power of two.
  uint64_t granule_bytes = 2 * kMiB;
};

// InvalidArgument naming the bad field.
absl::Status ValidatePolicyArgs(const PolicyArgs& args);

struct VmDecision {
  uint64_t desired_fmem_bytes = 0;
  GuardVerdict verdict = GuardVerdict::kFree;
};

// Desired FMEM per VM, in snapshot order.  Not yet safe to apply: the
// actuation planner turns it into ordered steps.
struct FmemPlan {
  std::string policy;
  std::vector<VmDecision> vms;

  uint64_t SumDesiredBytes() const;
};

// Thread-safety: Decide() is const and may run concurrently.
class FmemPolicy {
 public:
  virtual ~FmemPolicy() = default;
  virtual std::string_view name() const = 0;
  // Postconditions (ValidatePlan): one decision per VM, each within the
  // VM's [min, max], Σ desired <= budget.
  virtual FmemPlan Decide(const HostSnapshot& snap) const = 0;
};

// Checks the postconditions above; the agent applies it to every plan so a
// buggy (or third-party) policy cannot over-commit.  Internal on violation.
absl::Status ValidatePlan(const HostSnapshot& snap, const FmemPlan& plan);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_POLICY_H_

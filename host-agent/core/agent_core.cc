#include "core/agent_core.h"

#include <utility>

namespace tiervm::agent {

absl::StatusOr<std::unique_ptr<AgentCore>> AgentCore::Create(
    const AgentCoreConfig& config, const Clock& clock,
    const PolicyRegistry& registry) {
  absl::StatusOr<std::unique_ptr<FmemPolicy>> policy =
      registry.Create(config.policy, config.policy_args);
  if (!policy.ok()) return policy.status();
  absl::StatusOr<PressureMonitor> pressure =
      PressureMonitor::Create(config.pressure);
  if (!pressure.ok()) return pressure.status();
  if (config.actuator.shrink_timeout <= absl::ZeroDuration() ||
      config.actuator.grow_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("actuator: timeouts must be positive");
  }
  return std::unique_ptr<AgentCore>(
      new AgentCore(*std::move(policy), config, *std::move(pressure), clock));
}

absl::StatusOr<TickResult> AgentCore::Tick(const HostSnapshot& snap) {
  TickResult r;
  r.plan = policy_->Decide(snap);
  if (absl::Status s = ValidatePlan(snap, r.plan); !s.ok()) return s;
  r.actuation = actuator_.Tick(snap, r.plan);
  r.host_pressure =
      pressure_.Observe(snap.host_free_fmem_bytes(), clock_.Now());
  r.sum_committed_bytes = r.actuation.sum_committed_bytes;
  r.over_budget = r.sum_committed_bytes > snap.fmem_budget_bytes();
  // Guests hold more than the host may give them: ask for it back now.
  if (r.over_budget) r.host_pressure = PressureLevel::kHigh;
  r.vm_pressure = PressureMonitor::PerVm(snap, r.host_pressure);
  r.low_free_bytes = pressure_.low_free_bytes();
  r.vm_over_target.reserve(snap.size());
  for (const VmView& vm : snap.vms()) {
    const bool shrinking = actuator_.state(vm.id) == MoveState::kShrinking;
    r.vm_over_target.push_back(FmemOverTarget(vm.state, shrinking));
  }
  return r;
}

}  // namespace tiervm::agent

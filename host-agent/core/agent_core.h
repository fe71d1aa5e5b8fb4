// AgentCore: one agent tick, from snapshot to commands.
//
//   HostSnapshot ──policy──> FmemPlan ──ValidatePlan──> Actuator
//        │                                               (planner, moves)
//        └──PressureMonitor──> per-VM pressure levels
//
// The daemon builds a snapshot each period, calls Tick(), writes the
// returned targets and pressure levels to the devices, and logs the events.
// No I/O here.
//
// Over budget: while Σ committed (max(target, held) per VM, held being
// HeldFmemBytes: the device's actual or the measured residency, after this
// tick's commands) exceeds the budget, the host pressure level is HIGH
// whatever free FMEM says, so that every guest above its minimum is asked
// to give memory back; the planner raises no target meanwhile.  The
// adaptive M3 threshold still learns from free FMEM alone.
//
// Over target: a VM whose measured FMEM residency exceeds its target by
// more than FmemOverTargetToleranceBytes (than its actual, while a shrink
// is in flight) is flagged (TickResult
// vm_over_target) for the daemon to report; the excess is charged to the
// budget through `held`.  Nothing here can take the memory back: the host
// has no per-node limit for a process (see host-agent/README.md).
//
// Owns: the policy, the actuator and the pressure monitor.
// Thread-safety: not synchronized; one instance per agent loop.
#ifndef TIERVM_HOST_AGENT_CORE_AGENT_CORE_H_
#define TIERVM_HOST_AGENT_CORE_AGENT_CORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/actuator.h"
#include "core/clock.h"
#include "core/host_snapshot.h"
#include "core/policy.h"
#include "core/policy_registry.h"
#include "core/pressure_monitor.h"

namespace tiervm::agent {

struct AgentCoreConfig {
  std::string policy = std::string(kDefaultPolicy);
  PolicyArgs policy_args;
  PressureConfig pressure;
  ActuatorConfig actuator;
};

struct TickResult {
  FmemPlan plan;
  ActuatorStep actuation;
  PressureLevel host_pressure = PressureLevel::kNone;
  std::vector<PressureLevel> vm_pressure;  // snapshot order
  uint64_t low_free_bytes = 0;             // the adapted M3 threshold
  // Σ max(target, held) with this tick's commands applied, and whether
  // it exceeds the budget (then host_pressure is kHigh).
  uint64_t sum_committed_bytes = 0;
  bool over_budget = false;
  // FmemOverTarget per VM (snapshot order), against the targets read back.
  std::vector<bool> vm_over_target;
};

class AgentCore {
 public:
  // NotFound for an unknown policy, InvalidArgument for bad knobs.
  // `clock` must outlive the core.
  static absl::StatusOr<std::unique_ptr<AgentCore>> Create(
      const AgentCoreConfig& config, const Clock& clock,
      const PolicyRegistry& registry = PolicyRegistry::Global());

  // Internal if the policy broke its contract (nothing is actuated then).
  absl::StatusOr<TickResult> Tick(const HostSnapshot& snap);

  const FmemPolicy& policy() const { return *policy_; }
  const Actuator& actuator() const { return actuator_; }
  Actuator& actuator() { return actuator_; }

 private:
  AgentCore(std::unique_ptr<FmemPolicy> policy, const AgentCoreConfig& config,
            PressureMonitor pressure, const Clock& clock)
      : policy_(std::move(policy)),
        pressure_(std::move(pressure)),
        actuator_(config.actuator, clock),
        clock_(clock) {}

  std::unique_ptr<FmemPolicy> policy_;
  PressureMonitor pressure_;
  Actuator actuator_;
  const Clock& clock_;
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_AGENT_CORE_H_

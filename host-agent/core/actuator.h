// Actuator: carries FMEM moves across ticks.  Each tick it checks the moves
// in flight against the actuals read back, times out the ones that do not
// settle, asks the actuation planner for the next safe steps, and returns
// the device target changes to issue.
//
// Per-VM move state machine:
//
//   kIdle ──shrink issued──> kShrinking ──actual <= target + tol──> kIdle
//                                 └──shrink_timeout──> kStuck
//   kIdle ──grow fits──────> kGrowing ──actual + tol >= target──> kIdle
//         └──no room yet──> kWaitingForDonors (re-planned every tick)
//                                 kGrowing ──grow_timeout──> kStuck
//   kStuck ──stuck_retry_after, or ClearStuck()──> kIdle
//   kIdle with |actual − target| > tol ──> kShrinking / kGrowing (adopted)
//
// A timeout never raises a target.  A donor that did not shrink in time
// keeps its lower target: it stays charged max(target, held), so the FMEM
// it kept is not handed on (grows are only granted from FMEM the host
// reports free), and setting target := actual would raise the target to
// whatever the guest took back meanwhile (deflate-on-OOM, a reboot) and
// could push Σ targets over the budget.  A recipient that did not grow in
// time has its unused grant withdrawn: target := actual clamped to
// [min, max], never above the target it had.  Stuck VMs are held: no new
// targets until the flag clears (unless Σ targets exceeds the budget; see
// the planner).  A VM left off its target — stuck flag expired, or a guest
// that deflated on its own — is tracked as a move in flight again, so it
// is flagged again if it never settles.
//
// Before any command leaves Tick(), Σ targets is checked against the
// budget in command order: a command that would raise a target past it,
// or past the VM's max, is dropped (event kRefusedOverBudget).  Lowering a
// target always passes.
//
// On the first tick (a fresh agent, or one restarted mid-move) the actuator
// adopts what it reads back: a VM whose actual is above its target is
// treated as a shrink in flight, below as a grow in flight, each with a
// fresh timeout.  Nothing is re-issued and no lower target is raised, so
// adoption cannot over-commit; a host found over budget only shrinks.
//
// Owns: the in-flight moves and the stuck set, keyed by VM id.
// Thread-safety: not synchronized; one instance per agent loop.
#ifndef TIERVM_HOST_AGENT_CORE_ACTUATOR_H_
#define TIERVM_HOST_AGENT_CORE_ACTUATOR_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "core/actuation_planner.h"
#include "core/clock.h"
#include "core/host_snapshot.h"
#include "core/policy.h"

namespace tiervm::agent {

struct ActuatorConfig {
  absl::Duration shrink_timeout = absl::Seconds(60);
  absl::Duration grow_timeout = absl::Seconds(60);
  // How long a stuck VM is left alone before it is tried again.
  absl::Duration stuck_retry_after = absl::Minutes(10);
  // |actual − target| within this counts as settled (balloon pages are
  // 2 MiB; a guest may leave a fraction of one).
  uint64_t settle_tolerance_bytes = 2 * kMiB;
};

enum class MoveState : uint8_t {
  kIdle,
  kShrinking,
  kGrowing,
  kWaitingForDonors,
  kStuck,
};

const char* MoveStateName(MoveState s);

// Set the device FMEM target of `vm` to `target_bytes`.
struct TargetCommand {
  VmId vm;
  uint64_t target_bytes = 0;
};

enum class MoveEventKind : uint8_t {
  kAdoptedShrink,
  kAdoptedGrow,
  kShrinkSettled,
  kGrowSettled,
  kShrinkTimedOut,
  kGrowTimedOut,
  kStuckCleared,
  // A planned raise dropped because Σ targets would exceed the budget
  // (target_bytes: the refused target).  Defensive: the planner should
  // never produce one.
  kRefusedOverBudget,
};

struct MoveEvent {
  VmId vm;
  MoveEventKind kind;
  uint64_t target_bytes = 0;
  uint64_t actual_bytes = 0;
};

struct ActuatorStep {
  std::vector<TargetCommand> commands;  // in order: timeouts, shrinks, grows
  std::vector<MoveEvent> events;
  ActuationPlan plan;  // indices into the tick's snapshot
  // Σ over VMs of max(target once `commands` are set, held), bytes (held:
  // HeldFmemBytes): what the host has committed after this step.
  uint64_t sum_committed_bytes = 0;
};

class Actuator {
 public:
  Actuator(const ActuatorConfig& config, const Clock& clock)
      : config_(config), clock_(clock) {}

  // `plan` must come from a policy run on `snap`.
  ActuatorStep Tick(const HostSnapshot& snap, const FmemPlan& plan);

  MoveState state(const VmId& vm) const;
  bool IsStuck(const VmId& vm) const { return stuck_.contains(vm); }
  // Sorted.
  std::vector<VmId> StuckVms() const;
  // The operator says the VM is fixed; it may move again from next tick.
  void ClearStuck(const VmId& vm) { stuck_.erase(vm); }

 private:
  struct Move {
    MoveState state;  // kShrinking or kGrowing
    absl::Time started;
  };

  void Adopt(const HostSnapshot& snap, absl::Time now, ActuatorStep* step);
  // Drops every command that would raise a target above the VM's max or
  // Σ targets above the budget; lowering a target is never refused.
  // Returns the VMs whose command was dropped.
  static absl::flat_hash_set<VmId> EnforceBudget(const HostSnapshot& snap,
                                                 ActuatorStep* step);

  const ActuatorConfig config_;
  const Clock& clock_;
  bool adopted_ = false;
  absl::flat_hash_map<VmId, Move> moves_;
  absl::flat_hash_map<VmId, absl::Time> stuck_;  // -> when flagged
  absl::flat_hash_set<VmId> waiting_;
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_ACTUATOR_H_

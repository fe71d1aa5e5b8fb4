#include "core/actuator.h"

#include <algorithm>
#include <memory>

namespace tiervm::agent {

const char* MoveStateName(MoveState s) {
  switch (s) {
    case MoveState::kIdle:
      return "idle";
    case MoveState::kShrinking:
      return "shrinking";
    case MoveState::kGrowing:
      return "growing";
    case MoveState::kWaitingForDonors:
      return "waiting-for-donors";
    case MoveState::kStuck:
      return "stuck";
  }
  return "?";
}

void Actuator::Adopt(const HostSnapshot& snap, absl::Time now,
                     ActuatorStep* step) {
  const uint64_t tol = config_.settle_tolerance_bytes;
  for (const VmView& vm : snap.vms()) {
    const VmTierState& s = vm.state;
    if (s.fmem_actual_bytes > s.fmem_target_bytes + tol) {
      moves_[vm.id] = {MoveState::kShrinking, now};
      step->events.push_back({vm.id, MoveEventKind::kAdoptedShrink,
                              s.fmem_target_bytes, s.fmem_actual_bytes});
    } else if (s.fmem_target_bytes > s.fmem_actual_bytes + tol) {
      moves_[vm.id] = {MoveState::kGrowing, now};
      step->events.push_back({vm.id, MoveEventKind::kAdoptedGrow,
                              s.fmem_target_bytes, s.fmem_actual_bytes});
    }
  }
  adopted_ = true;
}

ActuatorStep Actuator::Tick(const HostSnapshot& snap, const FmemPlan& plan) {
  const absl::Time now = clock_.Now();
  const uint64_t tol = config_.settle_tolerance_bytes;
  ActuatorStep step;
  if (!adopted_) Adopt(snap, now, &step);

  // Not std::vector<bool>: the planner takes a Span of real bools.
  std::unique_ptr<bool[]> hold(new bool[snap.size()]());

  // Stuck VMs: forget the ones that left, retry the ones that waited out
  // their penalty, hold the rest.
  for (auto it = stuck_.begin(); it != stuck_.end();) {
    const std::optional<size_t> idx = snap.IndexOf(it->first);
    if (!idx) {
      stuck_.erase(it++);
      continue;
    }
    if (now - it->second >= config_.stuck_retry_after) {
      const VmTierState& s = snap.vm(*idx).state;
      step.events.push_back({it->first, MoveEventKind::kStuckCleared,
                             s.fmem_target_bytes, s.fmem_actual_bytes});
      stuck_.erase(it++);
      continue;
    }
    hold[*idx] = true;
    ++it;
  }

  // Moves in flight: settled, timed out, or still going (held).
  for (auto it = moves_.begin(); it != moves_.end();) {
    const std::optional<size_t> idx = snap.IndexOf(it->first);
    if (!idx) {
      moves_.erase(it++);
      continue;
    }
    const VmTierState& s = snap.vm(*idx).state;
    const Move& m = it->second;
    const bool shrinking = m.state == MoveState::kShrinking;
    const bool settled = shrinking
                             ? s.fmem_actual_bytes <= s.fmem_target_bytes + tol
                             : s.fmem_actual_bytes + tol >= s.fmem_target_bytes;
    if (settled) {
      step.events.push_back({it->first,
                             shrinking ? MoveEventKind::kShrinkSettled
                                       : MoveEventKind::kGrowSettled,
                             s.fmem_target_bytes, s.fmem_actual_bytes});
      moves_.erase(it++);
      continue;
    }
    hold[*idx] = true;
    const absl::Duration timeout =
        shrinking ? config_.shrink_timeout : config_.grow_timeout;
    if (now - m.started >= timeout) {
      // Book what the VM really has: for a donor the FMEM it kept stays
      // charged to it (nothing handed on), for a recipient the grant it
      // did not take goes back to the pool.
      step.commands.push_back({it->first, s.fmem_actual_bytes});
      step.events.push_back({it->first,
                             shrinking ? MoveEventKind::kShrinkTimedOut
                                       : MoveEventKind::kGrowTimedOut,
                             s.fmem_target_bytes, s.fmem_actual_bytes});
      stuck_[it->first] = now;
      moves_.erase(it++);
      continue;
    }
    ++it;
  }

  step.plan =
      PlanActuation(snap, plan, absl::MakeConstSpan(hold.get(), snap.size()));
  for (const TargetChange& c : step.plan.shrinks) {
    const VmId& id = snap.vm(c.vm_index).id;
    step.commands.push_back({id, c.to_target_bytes});
    moves_[id] = {MoveState::kShrinking, now};
  }
  for (const TargetChange& c : step.plan.grows) {
    const VmId& id = snap.vm(c.vm_index).id;
    step.commands.push_back({id, c.to_target_bytes});
    moves_[id] = {MoveState::kGrowing, now};
  }
  waiting_.clear();
  for (const WaitingGrow& w : step.plan.waiting) {
    waiting_.insert(snap.vm(w.vm_index).id);
  }
  return step;
}

MoveState Actuator::state(const VmId& vm) const {
  if (stuck_.contains(vm)) return MoveState::kStuck;
  if (auto it = moves_.find(vm); it != moves_.end()) return it->second.state;
  if (waiting_.contains(vm)) return MoveState::kWaitingForDonors;
  return MoveState::kIdle;
}

std::vector<VmId> Actuator::StuckVms() const {
  std::vector<VmId> ids;
  for (const auto& [id, since] : stuck_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace tiervm::agent

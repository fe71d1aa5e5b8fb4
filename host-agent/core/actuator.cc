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
      // Never raise a target here (see the header).  A donor keeps its
      // lower target and stays charged for what it holds; a recipient's
      // untaken grant goes back to the pool, but the target stays within
      // [min, max].
      if (!shrinking) {
        const VmConfig& c = snap.vm(*idx).config;
        const uint64_t lowered = std::min(
            s.fmem_target_bytes,
            std::clamp(s.fmem_actual_bytes, c.min_fmem_bytes, c.max_fmem_bytes));
        if (lowered < s.fmem_target_bytes) {
          step.commands.push_back({it->first, lowered});
        }
      }
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
  // What a timeout left each timed-out VM at: the planner saw the target
  // before the withdrawal, and nothing it plans may take a VM back above it
  // in the tick the VM timed out.
  absl::flat_hash_map<VmId, uint64_t> timed_out_at;
  for (const MoveEvent& e : step.events) {
    if (e.kind == MoveEventKind::kShrinkTimedOut ||
        e.kind == MoveEventKind::kGrowTimedOut) {
      timed_out_at[e.vm] = e.target_bytes;
    }
  }
  for (const TargetCommand& c : step.commands) timed_out_at[c.vm] = c.target_bytes;
  const size_t first_planned = step.commands.size();
  auto add_planned = [&](const TargetChange& c) {
    const VmId& id = snap.vm(c.vm_index).id;
    if (auto it = timed_out_at.find(id);
        it != timed_out_at.end() && c.to_target_bytes >= it->second) {
      return;
    }
    step.commands.push_back({id, c.to_target_bytes});
  };
  for (const TargetChange& c : step.plan.shrinks) add_planned(c);
  for (const TargetChange& c : step.plan.grows) add_planned(c);
  // Count only what survives the check as a move: a dropped raise leaves
  // the VM waiting, as if there had been no room.
  waiting_.clear();
  for (const VmId& id : EnforceBudget(snap, &step)) waiting_.insert(id);
  for (size_t i = 0; i < step.commands.size(); ++i) {
    const TargetCommand& c = step.commands[i];
    const std::optional<size_t> idx = snap.IndexOf(c.vm);
    // Timeout withdrawals come first and start no move.
    if (i < first_planned || !idx) continue;
    const bool lower = c.target_bytes < snap.vm(*idx).state.fmem_target_bytes;
    moves_[c.vm] = {lower ? MoveState::kShrinking : MoveState::kGrowing, now};
  }
  for (const WaitingGrow& w : step.plan.waiting) {
    waiting_.insert(snap.vm(w.vm_index).id);
  }
  // A VM left alone whose actual is off its target — a timed-out donor
  // that kept its lower target once its stuck flag expires, or a guest that
  // deflated (deflate-on-OOM, a reboot) or inflated on its own — is a move
  // in flight again, with a fresh timeout, so that it is flagged if it
  // never settles instead of sitting "idle" off target.
  for (const VmView& vm : snap.vms()) {
    if (moves_.contains(vm.id) || stuck_.contains(vm.id)) continue;
    const VmTierState& s = vm.state;
    if (s.fmem_actual_bytes > s.fmem_target_bytes + tol) {
      moves_[vm.id] = {MoveState::kShrinking, now};
      step.events.push_back({vm.id, MoveEventKind::kAdoptedShrink,
                             s.fmem_target_bytes, s.fmem_actual_bytes});
    } else if (s.fmem_target_bytes > s.fmem_actual_bytes + tol) {
      moves_[vm.id] = {MoveState::kGrowing, now};
      step.events.push_back({vm.id, MoveEventKind::kAdoptedGrow,
                             s.fmem_target_bytes, s.fmem_actual_bytes});
    }
  }
  return step;
}

absl::flat_hash_set<VmId> Actuator::EnforceBudget(const HostSnapshot& snap,
                                                  ActuatorStep* step) {
  // The targets as the devices will hold them after each command, in the
  // order the daemon issues them.
  std::vector<uint64_t> target(snap.size());
  uint64_t sum_bytes = 0;
  for (size_t i = 0; i < snap.size(); ++i) {
    target[i] = snap.vm(i).state.fmem_target_bytes;
    sum_bytes += target[i];
  }
  absl::flat_hash_set<VmId> refused;
  std::vector<TargetCommand> kept;
  kept.reserve(step->commands.size());
  for (const TargetCommand& c : step->commands) {
    const std::optional<size_t> idx = snap.IndexOf(c.vm);
    if (!idx) continue;  // not ours to set
    const uint64_t from = target[*idx];
    if (c.target_bytes > from) {
      const uint64_t raised_sum = sum_bytes - from + c.target_bytes;
      if (raised_sum > snap.fmem_budget_bytes() ||
          c.target_bytes > snap.vm(*idx).config.max_fmem_bytes) {
        step->events.push_back({c.vm, MoveEventKind::kRefusedOverBudget,
                                c.target_bytes,
                                snap.vm(*idx).state.fmem_actual_bytes});
        refused.insert(c.vm);
        continue;
      }
    }
    sum_bytes = sum_bytes - from + c.target_bytes;
    target[*idx] = c.target_bytes;
    kept.push_back(c);
  }
  step->commands = std::move(kept);
  for (size_t i = 0; i < snap.size(); ++i) {
    step->sum_committed_bytes += std::max(target[i], HeldFmemBytes(snap.vm(i).state));
  }
  return refused;
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

#include "core/actuation_planner.h"

#include <algorithm>

#include "core/check.h"

namespace tiervm::agent {

ActuationPlan PlanActuation(const HostSnapshot& snap, const FmemPlan& plan,
                            absl::Span<const bool> hold) {
  TIERVM_CHECK(plan.vms.size() == snap.size(), "plan is for this snapshot");
  TIERVM_CHECK(hold.empty() || hold.size() == snap.size(), "hold per VM");
  ActuationPlan out;

  // Rule 6: over a budget by targets alone, a move in flight or a stuck
  // flag does not protect a target from being lowered to its desired size.
  const bool targets_over_budget =
      snap.SumTargetBytes() > snap.fmem_budget_bytes();

  // Pass 1: shrinks, and what every VM is charged afterwards.
  uint64_t sum_committed = 0;
  uint64_t outstanding_grants = 0;
  for (size_t i = 0; i < snap.size(); ++i) {
    const VmTierState& s = snap.vm(i).state;
    uint64_t target = s.fmem_target_bytes;
    const uint64_t desired = plan.vms[i].desired_fmem_bytes;
    const bool held = !targets_over_budget && !hold.empty() && hold[i];
    if (!held && desired < target) {
      out.shrinks.push_back({i, target, desired});
      target = desired;
    }
    sum_committed += std::max(target, HeldFmemBytes(s));
    // Grants not yet taken are counted against the device's actual, not
    // the measured residency: the larger figure keeps free_room low.
    if (target > s.fmem_actual_bytes) {
      outstanding_grants += target - s.fmem_actual_bytes;
    }
  }

  out.sum_committed_bytes = sum_committed;
  out.over_budget = sum_committed > snap.fmem_budget_bytes();

  // Pass 2: grows from the room that is really there.
  const uint64_t budget_room = snap.fmem_budget_bytes() > sum_committed
                                   ? snap.fmem_budget_bytes() - sum_committed
                                   : 0;
  const uint64_t free_room =
      snap.host_free_fmem_bytes() > outstanding_grants
          ? snap.host_free_fmem_bytes() - outstanding_grants
          : 0;
  uint64_t room = std::min(budget_room, free_room);
  out.grant_room_bytes = room;
  for (size_t i = 0; i < snap.size(); ++i) {
    const VmTierState& s = snap.vm(i).state;
    const uint64_t desired = plan.vms[i].desired_fmem_bytes;
    if ((!hold.empty() && hold[i]) || desired <= s.fmem_target_bytes) continue;
    if (out.over_budget) {  // rule 5: everything waits
      out.waiting.push_back({i, desired - s.fmem_target_bytes});
      continue;
    }
    // Growing only the part above what the VM already holds costs room:
    // a VM whose actual exceeds its target (a shrink still settling) is
    // already charged for it.
    const uint64_t charged = std::max(s.fmem_target_bytes, HeldFmemBytes(s));
    const uint64_t need = desired > charged ? desired - charged : 0;
    const uint64_t give = std::min(need, room);
    room -= give;
    const uint64_t to =
        std::max(s.fmem_target_bytes, std::min(desired, charged + give));
    if (to > s.fmem_target_bytes)
      out.grows.push_back({i, s.fmem_target_bytes, to});
    if (to < desired) out.waiting.push_back({i, desired - to});
  }
  return out;
}

}  // namespace tiervm::agent

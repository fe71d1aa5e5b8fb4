// The actuation planner turns a policy's desired sizes into the target
// changes that are safe to issue *now*.  Pure function.
//
// Safety rules:
//   1. Shrinks are issued at once: they only ever free FMEM.
//   2. Until a VM's actual FMEM has dropped, the FMEM is still its own:
//      every VM is charged committed = max(target, held), held being the
//      device's actual or, when higher, the FMEM the host measured resident
//      for the VM (HeldFmemBytes: the balloon is cooperative, a guest can
//      take FMEM back without the device's count showing it).
//   3. A grow is issued only from FMEM that is (a) inside the budget,
//      budget − Σ committed, and (b) free on the host right now minus what
//      was already granted but not yet taken, host_free − Σ max(0,
//      target − actual).  So recipients grow only after donors' actual has
//      dropped, and the agent never promises FMEM the host does not have.
//   4. Grows that do not fit wait (partially granted if some room exists),
//      in snapshot order; a later tick grants them as donors settle.
//   5. Over budget (Σ committed after the shrinks > budget: the budget was
//      cut, the agent started on an over-committed host, or guests took
//      FMEM back on their own, e.g. deflate-on-OOM or a reboot): no target
//      is raised at all, not even within what a VM already holds, because
//      raising toward an actual that rose on its own turns the guest's
//      over-commit into ours.
//   6. Σ targets > budget: shrinks are issued to held VMs too.  The policy's
//      plan fits the budget (ValidatePlan), so lowering every target that
//      is above its desired size brings Σ targets within it this tick.
// Consequence: Σ targets <= budget after every plan whose policy plan is
// valid, and Σ targets <= Σ committed <= budget whenever Σ committed <=
// budget before it (a host over budget only shrinks until it is not).
#ifndef TIERVM_HOST_AGENT_CORE_ACTUATION_PLANNER_H_
#define TIERVM_HOST_AGENT_CORE_ACTUATION_PLANNER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/host_snapshot.h"
#include "core/policy.h"

namespace tiervm::agent {

struct TargetChange {
  size_t vm_index = 0;  // into the snapshot
  uint64_t from_target_bytes = 0;
  uint64_t to_target_bytes = 0;
};

struct WaitingGrow {
  size_t vm_index = 0;
  uint64_t waiting_bytes = 0;  // desired minus what was granted now
};

struct ActuationPlan {
  std::vector<TargetChange> shrinks;  // issue now
  std::vector<TargetChange> grows;    // issue now; backed by free FMEM
  std::vector<WaitingGrow> waiting;   // need donors to settle first
  uint64_t grant_room_bytes = 0;      // room before grows (diagnostic)
  // Σ max(target, held) after the shrinks; above the budget no target is
  // raised (rule 5).
  uint64_t sum_committed_bytes = 0;
  bool over_budget = false;
};

// `hold[i]` true: leave VM i's target alone this tick (a move in flight, or
// a VM flagged stuck), unless Σ targets exceeds the budget (rule 6).  Empty
// span: hold nothing.
ActuationPlan PlanActuation(const HostSnapshot& snap, const FmemPlan& plan,
                            absl::Span<const bool> hold = {});

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_ACTUATION_PLANNER_H_

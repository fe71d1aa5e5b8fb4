// The actuation planner turns a policy's desired sizes into the target
// changes that are safe to issue *now*.  Pure function.
//
// Safety rules:
//   1. Shrinks are issued at once: they only ever free FMEM.
//   2. Until a VM's actual FMEM has dropped, the FMEM is still its own:
//      every VM is charged committed = max(target, actual).
//   3. A grow is issued only from FMEM that is (a) inside the budget,
//      budget − Σ committed, and (b) free on the host right now minus what
//      was already granted but not yet taken, host_free − Σ max(0,
//      target − actual).  So recipients grow only after donors' actual has
//      dropped, and the agent never promises FMEM the host does not have.
//   4. Grows that do not fit wait (partially granted if some room exists),
//      in snapshot order; a later tick grants them as donors settle.
// Consequence: Σ targets <= Σ committed <= budget after every plan, given
// Σ committed <= budget before it (a restarted agent adopting an
// over-committed host only shrinks until it is not).
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
};

// `hold[i]` true: leave VM i's target alone this tick (a move in flight, or
// a VM flagged stuck).  Empty span: hold nothing.
ActuationPlan PlanActuation(const HostSnapshot& snap, const FmemPlan& plan,
                            absl::Span<const bool> hold = {});

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_ACTUATION_PLANNER_H_

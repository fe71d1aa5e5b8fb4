// PromotionHold: pages promoted recently, which the exchange planner does
// not demote again until their hold has run out.
//
// Why: with the accessed-bit source an epoch spans a whole scan pass, so a
// hot set seen in one pass weighs what data written once and seen in the
// next pass weighs, and half of it after the epoch ends.  For a pass or so
// such data outranks the hot set it follows, and an exchange would send
// the hot pages just promoted back to SMEM, to promote them again a pass
// later (in the VM residency test: 58 MiB of a 64 MiB hot region, twice).
// A page held for a few tracker epochs after its promotion is not a
// demotion candidate; by then its weight has been seen again.  Epochs, not
// time: the ambiguity lasts an epoch or two whatever an epoch is (a scan
// pass of seconds in the daemon, a 100 ms tick with samples in the
// simulator, where a hold of seconds held an old hot set past a phase
// change).  This is the hysteresis of the
// published systems (Memtis's cooling, ALTO's benefit gate) for the one
// case that costs two migrations per page for nothing.
//
// Spans of consecutive pages of one process, each with its own expiry;
// memory is one map entry per span (a tick's promotions of a range
// coalesce into a few), expired entries dropped by Expire().  Pure; one
// thread.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_PROMOTION_HOLD_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_PROMOTION_HOLD_H_

#include <cstdint>
#include <map>
#include <utility>

#include "absl/types/span.h"
#include "placement/exchange_planner.h"
#include "placement/types.h"

namespace tiervm::placement {

class PromotionHold {
 public:
  // Holds the FMEM-bound moves of `moves` until epoch `until` (a later
  // hold of the same page replaces the earlier one).
  void Add(absl::Span<const PageMove> moves, uint64_t until);
  // Drops the holds of the FMEM-bound moves of `moves`: promotions the plan
  // held that were then not applied (not tried, skipped, failed) are still
  // on SMEM, and a hold would keep them there (PagesToMove passes held
  // pages over) until it ran out.
  void Release(absl::Span<const PageMove> moves);
  // Drops holds that ran out at or before epoch `now`.
  void Expire(uint64_t now);
  // Whether [addr, addr + bytes) of `pid` overlaps a held span.
  bool Held(Pid pid, Vaddr addr, uint64_t bytes) const;
  void Forget(Pid pid);

  uint64_t held_bytes() const;
  size_t spans() const { return spans_.size(); }

 private:
  struct Span {
    Vaddr end = 0;
    uint64_t until = 0;
  };
  void Insert(Pid pid, Vaddr start, Vaddr end, uint64_t until);
  // Cuts [start, end) out of `pid`'s spans; their parts outside keep their
  // own expiry.
  void Cut(Pid pid, Vaddr start, Vaddr end);
  // (pid, start) -> span; spans of one pid are disjoint.
  std::map<std::pair<Pid, Vaddr>, Span> spans_;
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_PROMOTION_HOLD_H_

// ExchangePlanner: turns a classification into an immutable list of page
// moves that never overflows FMEM and never exceeds the migration budget.
//
// A stock kernel has no in-place exchange (Demeter's folio_exchange needs a
// patched kernel), so a swap is a demotion into SMEM followed by a promotion
// into the FMEM it freed.  The plan is cut into rounds; in each round every
// demotion precedes every promotion and each list is sorted by (pid,
// address), which is the order move_pages(2) wants per destination node.
// Invariant, for every prefix of Flatten():
//   free FMEM >= min(initial free, headroom), and right after any promotion
//   free FMEM >= min(free after the watermark restore, headroom),
// assuming every earlier move applied.  (Free FMEM in the tolerated dip,
// between a quarter of the headroom and all of it, stays there: promotions
// are then exchanged one for one.)  The executor applies rounds in order
// and, when demotions of a round fail, skips promotions that would no longer
// fit (it reports planned vs applied).
//
// THP: a 2 MiB page moves whole or not at all.  A THP whose sampled weight
// is concentrated in a few of its 256 KiB sub-blocks is left on SMEM (the
// Memtis/Atlas idea: promoting it would spend 2 MiB of FMEM on mostly cold
// data); splitting it is the kernel's job (khugepaged/THP shrinker).
//
// Pure: a function of its inputs.  Plans are immutable values.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_EXCHANGE_PLANNER_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_EXCHANGE_PLANNER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "placement/classifier.h"
#include "placement/page_locator.h"
#include "placement/snapshot.h"

namespace tiervm::placement {

class PromotionHold;

struct PlannerConfig {
  int fmem_node = 0;
  int smem_node = 1;
  // Migration traffic budget, both directions counted, MiB per second of
  // `interval_ns`.  Keep it well under SMEM write bandwidth.
  double rate_limit_mib_per_s = 256;
  int64_t interval_ns = 1'000'000'000;
  // Bytes per round (one move_pages batch per direction).
  uint64_t round_bytes = 64ull << 20;
  // A THP is left alone when max(sub-block weight) / mean(sub-block
  // weight) exceeds this (1 = perfectly even, kSubBlocks = one hot block).
  double thp_max_unevenness = 4.0;
  // ... but only when it has at least this much weight; below it the
  // profile is noise and the page is treated as even.
  double thp_min_weight = 8.0;
  // The gain gate (0: off, else >= 1): a promotion that needs demotions
  // goes ahead only when the page's sampled weight per byte exceeds this
  // many times that of the densest page it displaces (unsampled pages
  // weigh 0 and always give way); promotions into free FMEM are not gated.
  // Near the hot/cold boundary, where the ranking moves with every fresh
  // sample, it stops pages from being exchanged back and forth.  Off by
  // default: at 2 it also held the last 12 % of a hot region on SMEM for
  // 8 s behind data written just before, whose weight was still decaying
  // (the VM residency test).
  double min_exchange_gain = 0;
  // The same gate for pages of page-resolved ranges (0: off, else >= 1;
  // the larger of the two applies to them).  Page densities move with
  // every sample of a page; without a margin the pages at the cut trade
  // places tick after tick: in the simulator's recordings 87-95 % of
  // promotions were demoted again within 10 s, 30x the Memtis model's
  // migrations.  1.25 keeps the hit ratio (within 0.01) at 2.5-5x;
  // 1.5 and 2 cost up to 0.06 of it on rec_sqlite.
  double page_exchange_gain = 1.25;
};

// The one rule for PlannerConfig::min_exchange_gain: 0 (off) or finite >= 1.
bool ValidExchangeGain(double gain);

// The current FMEM situation (from /sys/devices/system/node/nodeN/meminfo).
struct FmemState {
  uint64_t free_bytes = 0;
  // The watermark to keep (as classifier).  Every promotion leaves at
  // least this much free (or what is free, when less: an exchange);
  // demotions only to restore it start once free FMEM is below a quarter
  // of it (hysteresis against the kernel's churn).
  uint64_t headroom_bytes = 0;
  // The caller leaves this dip alone (TickPlanner: the balloon is not
  // waiting, see restore_after_ticks): no demotion to restore the
  // headroom; promotions are then paid by exchanges.
  bool restore_held = false;

  // Free FMEM is low enough that the coldest pages go down to restore the
  // headroom, whether or not anything is to be promoted.  The kernel's own
  // allocations move free FMEM by several MiB all the time (10 MiB at one
  // phase change of the residency test); demoting for every such dip is
  // migration no promotion asked for, and free FMEM below the headroom
  // does no harm -- the kernel's watermarks are not part of it, and a
  // raised balloon target shows up as lower capacity, not as a dip.
  bool InDip() const { return free_bytes < headroom_bytes / 4; }
  bool NeedsRestore() const { return !restore_held && InDip(); }
};

struct PageMove {
  Pid pid = 0;
  Vaddr addr = 0;
  uint64_t bytes = 0;
  Tier dest_tier = Tier::kSmem;
  int dest_node = 0;
  friend bool operator==(const PageMove&, const PageMove&) = default;
};

struct ExchangeRound {
  std::vector<PageMove> demotions;   // dest SMEM, sorted by (pid, addr)
  std::vector<PageMove> promotions;  // dest FMEM, sorted by (pid, addr)
};

enum class PlanStop {
  kDone,           // every candidate planned
  kRateLimit,      // migration budget used up
  kNoDemotable,    // promotions left but nothing cold on FMEM to make room
  kNoGain,         // promotions left, but each would displace pages almost
                   // as hot (min_exchange_gain)
};

struct ExchangePlan {
  std::vector<ExchangeRound> rounds;
  uint64_t budget_bytes = 0;
  uint64_t promote_bytes = 0;
  uint64_t demote_bytes = 0;
  uint64_t fmem_free_before_bytes = 0;
  uint64_t fmem_free_after_bytes = 0;  // if everything applies
  uint64_t thp_skipped_pages = 0;      // uneven THPs left alone
  uint64_t gain_skipped_bytes = 0;     // promotions the gain gate refused
  uint64_t held_skipped_bytes = 0;     // FMEM pages not demoted: promoted recently
  PlanStop stop = PlanStop::kDone;

  uint64_t moved_bytes() const { return promote_bytes + demote_bytes; }
  // All moves in execution order.
  std::vector<PageMove> Flatten() const;
};

// What the executor reports back (filled by the daemon, later).
struct ExecutionReport {
  uint64_t planned_moves = 0;
  uint64_t applied_moves = 0;
  uint64_t planned_bytes = 0;
  uint64_t applied_bytes = 0;
  // Of applied_bytes, what landed on FMEM (promotions) and on SMEM.
  uint64_t applied_to_fmem_bytes = 0, applied_to_smem_bytes = 0;
  uint64_t busy = 0;     // EBUSY/EAGAIN: retry next tick
  uint64_t gone = 0;     // EFAULT/ENOENT/ESRCH: page or process vanished
  uint64_t no_mem = 0;   // ENOMEM on the destination node
  uint64_t skipped = 0;  // promotions skipped because demotions failed
};

// InvalidArgument on a bad config; locator errors other than NotFound are
// returned as they are (NotFound: the process exited, its pages are skipped).
// The locator lists the pages of promote candidates in order until the plan
// stops, and of demote candidates only as far as demotions are needed (a
// tick with nothing to promote and FMEM above the watermark lists none).
// Pages `hold` holds (promoted recently) are never demoted; nullptr: none.
absl::StatusOr<ExchangePlan> PlanExchange(const TrackerSnapshot& snapshot,
                                          const Classification& classes,
                                          const PageLocator& locator,
                                          const FmemState& fmem,
                                          const PlannerConfig& config,
                                          const PromotionHold* hold = nullptr);

// True if `page` (a THP) is too unevenly used to promote whole.
bool ThpTooUneven(const TrackerSnapshot& snapshot, Pid pid, Vaddr addr,
                  const PlannerConfig& config);

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_EXCHANGE_PLANNER_H_

// TickPlanner: the per-tick placement policy, shared by hplaced and
// tiervm-sim, so a simulator figure is a figure of the daemon's code.
//
// One tick: the caller reads the system (free FMEM, the balloon's pending
// growth, the CPU allowance left by the budget) into TickInputs, takes a
// tracker snapshot, and calls Plan() with a PageLocator.  Plan():
//   1. never makes memory hot whose sampled weight per MiB is below
//      min_hot_weight_per_mib (data touched once, at start-up, must not
//      claim free FMEM; the classifier judges ranges, or pages of
//      page-resolved ones);
//   2. locates every range through a residency cache (CachingLocator):
//      lookups are the daemon's largest cost, so a range's residency is
//      kept for locate_refresh_ticks ticks (locate_idle_refresh_ticks
//      for a range sampled too little to be hot) and forgotten when pages
//      of it are planned to move or the range no longer exists; a long range is
//      listed one window at a time, and its window advances only once it
//      has nothing left to move;
//   3. FMEM capacity = tracked bytes on FMEM + free FMEM - the balloon's
//      pending growth; headroom = configured + what ENOMEMs added;
//      Classify; a raised balloon target shows up as missing free FMEM, so
//      the planner demotes the coldest pages first; a dip of free FMEM the
//      balloon did not cause is left to the kernel unless configured
//      (restore_after_ticks);
//   4. the migration rate for this tick: what the CPU allowance (minus what
//      planning already spent) buys at the learnt migration cost, capped
//      by rate_limit_mib_per_s, and never below min_rate_mib_per_s while
//      there is anything to promote (SMEM holds pages ranked hotter than
//      FMEM's coldest) -- the budget bounds detection, it must not starve
//      placement (the kernel's promotion rate limit is the model);
//   5. PlanExchange.  Free FMEM above the headroom is filled with the
//      hottest SMEM pages first (a promotion that needs no demotion), so a
//      cold start or an FMEM grant costs one migration per page.  Pages
//      promoted less than promote_hold_epochs epochs ago are not demoted
//      (PromotionHold: a hot set seen one scan pass ago must not give way
//      to data written once and seen just now).
// The caller executes the plan (stopping once it has spent cpu_limit_ns)
// and reports what happened with Learn(): the migration cost is learnt
// from applied bytes (an EWMA), and ENOMEM on FMEM grows the headroom.
//
// Pure: no syscalls; the CPU the planning itself spends is read from the
// injected Clock.  Owns the residency cache and the learnt state; the
// locator and clock are borrowed per call.  One thread.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_TICK_PLANNER_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_TICK_PLANNER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "placement/classifier.h"
#include "placement/clock.h"
#include "placement/exchange_planner.h"
#include "placement/page_locator.h"
#include "placement/promotion_hold.h"
#include "placement/snapshot.h"

namespace tiervm::placement {

struct TickPlannerConfig {
  int fmem_node = 0;
  int smem_node = 1;
  // FMEM kept free: move_pages needs free FMEM to land in, the balloon
  // room to grow.
  uint64_t headroom_bytes = 16ull << 20;
  // Migration traffic, both directions, MiB per second of tick interval:
  // the ceiling, and the floor kept whenever anything is to be promoted
  // (whatever the CPU allowance; 0 lets the budget starve placement; the
  // ceiling caps it).
  double rate_limit_mib_per_s = 256;
  double min_rate_mib_per_s = 128;
  uint64_t round_bytes = 64ull << 20;
  double thp_max_unevenness = 4.0;
  // The gain gate, PlannerConfig::min_exchange_gain (0: off, else >= 1).
  double min_exchange_gain = 0;
  // ... and for pages of page-resolved ranges, PlannerConfig::page_exchange_gain.
  double page_exchange_gain = 1.25;
  // Migration CPU cost assumed until moves measure it (then an EWMA of the
  // cost per applied MiB).  Pessimistic on purpose (a TCG guest's figure;
  // real hardware is ~10x cheaper).
  double initial_move_cost_us_per_mib = 4000;
  // Memory whose sampled weight per MiB is below this is never hot
  // (ClassifierConfig::min_hot_weight_per_mib, the same rule).  0 disables.
  double min_hot_weight_per_mib = 4.0;
  // Residency cache: re-locate a range every locate_refresh_ticks ticks;
  // walk at most locate_window_pages of one range per tick and
  // locate_tick_pages over all (0: no bound).  A range's window stays
  // where it is while it still holds pages to move, and moves on to the
  // next one otherwise.
  int64_t locate_refresh_ticks = 10;
  // ... and an idle range (sampled weight per resident MiB below
  // min_hot_weight_per_mib, or none) every locate_idle_refresh_ticks
  // ticks (0: no such rule; else >= locate_refresh_ticks).  Only for a
  // source that samples every page touched (accessed bits): a page the
  // range gains is then sampled, so only moves, which forget the entry, or
  // the kernel change an idle range's residency.  A sampled source (PEBS,
  // the simulator's traces) can fill a range without a sample.
  int64_t locate_idle_refresh_ticks = 0;
  uint64_t locate_window_pages = 4096;
  uint64_t locate_tick_pages = 0;
  // ENOMEM on FMEM grows the headroom by enomem_step_bytes per tick, up to
  // enomem_max_extra_bytes extra; a tick without shrinks it by a quarter
  // step.
  uint64_t enomem_step_bytes = 16ull << 20;
  uint64_t enomem_max_extra_bytes = 64ull << 20;
  // Free FMEM below a quarter of the headroom that the balloon did not
  // cause demotes the coldest pages to restore the headroom only once the
  // dip has lasted restore_after_ticks consecutive ticks; 0 (the default):
  // never.  Such a dip is the kernel's: its allocations fall back to SMEM
  // and its reclaim runs at its own watermarks, promotions are then paid
  // by exchanges, and in the residency test the dips lasted (per-CPU page
  // lists and other kernel use after migrations): each demotion for one
  // was a migration no promotion asked for.  Room the balloon is waiting
  // for (balloon_pending_bytes) is made at once.
  int64_t restore_after_ticks = 0;
  // Pages promoted less than promote_hold_epochs tracker epochs ago are not
  // demoted (PromotionHold); 0 = off.
  int64_t promote_hold_epochs = 2;

  absl::Status Validate() const;
};

// What the caller read from the system for this tick.
struct TickInputs {
  uint64_t tick = 0;         // tick number (the locate window rotates with it)
  int64_t interval_ns = 0;   // since the previous tick (> 0)
  uint64_t fmem_free_bytes = 0;        // free FMEM a migration can land in
  uint64_t balloon_pending_bytes = 0;  // FMEM balloon target - actual
  // CPU placement may spend this tick (the budget's bucket; 0: none).
  int64_t allowance_ns = 0;
};

// A range whose lookup failed with something other than NotFound.
struct LocateError {
  Pid pid = 0;
  absl::Status status;
};

struct TickPlan {
  ExchangePlan exchange;
  Classification classes;
  uint64_t tracked_fmem_bytes = 0, tracked_smem_bytes = 0;
  uint64_t fmem_capacity_bytes = 0;  // what placement may fill
  uint64_t headroom_bytes = 0;       // in force (config + ENOMEM extra)
  double rate_mib_per_s = 0;         // the rate the plan was cut to
  double affordable_mib = 0;         // what the allowance bought
  bool budget_limited = false;       // the allowance cut the rate
  bool floor_applied = false;        // the floor raised it above the allowance
  bool restore_held = false;         // free FMEM dipped; waiting whether it lasts
  // CPU the caller may spend executing (allowance, or what the floor's
  // bytes cost at the learnt rate, with margin): stop between batches past it.
  int64_t cpu_limit_ns = 0;
  // Largest move batch: about an eighth of what the rate buys, 2-64 MiB,
  // so a cost estimate that is too low overshoots by little.
  uint64_t max_batch_bytes = 0;
  std::vector<Pid> gone_pids;             // NotFound: the process exited
  std::vector<LocateError> locate_errors;  // excluded from this plan
  int64_t plan_cpu_ns = 0;                 // what Plan() spent
};

// What executing the plan did.
struct TickOutcome {
  uint64_t applied_bytes = 0;
  int64_t move_cpu_ns = 0;  // CPU the moves took
  bool no_mem = false;      // ENOMEM on FMEM
  // Promotions of the plan that were not applied (not tried once the CPU
  // limit was reached, skipped, failed): released from the promotion hold
  // Plan() put them under, so the next tick may plan them again.
  std::vector<PageMove> unapplied_promotions;
};

// (pid, start, end) -> residency and the tick it was located at.
struct ResidencyEntry {
  absl::StatusOr<Residency> res;
  uint64_t tick = 0;
};
using RangeKey = std::tuple<Pid, Vaddr, Vaddr>;
using ResidencyCache = std::map<RangeKey, ResidencyEntry>;
// (pid, start, end) -> the locate window a long range is walked at, as a
// count that is taken modulo the range's current number of windows; one
// per tier the planner wants pages of (index: Tier) and one for walks that
// name no tier (kAnyTier).
inline constexpr size_t kAnyTier = 2;
inline constexpr size_t kCursorsPerRange = 3;
using WindowCursors = std::map<RangeKey, std::array<uint64_t, kCursorsPerRange>>;
// (pid, address) of a one-page lookup -> what it found (nothing, or the
// page holding the address: a THP whole) and the tick it was made at.
struct PageLookup {
  bool found = false;
  PageInfo page;
  uint64_t tick = 0;
};
using PageLookupCache = std::map<std::pair<Pid, Vaddr>, PageLookup>;

class TickPlanner {
 public:
  // CHECK-fails on a config that does not Validate().
  explicit TickPlanner(const TickPlannerConfig& config);

  absl::StatusOr<TickPlan> Plan(const TrackerSnapshot& snapshot, const PageLocator& locator,
                                const TickInputs& in, const Clock& clock);
  void Learn(const TickOutcome& outcome);
  // Ranges of `pid` leave the cache (the caller found the process gone).
  void Forget(Pid pid);

  double move_cost_ns_per_mib() const { return move_cost_ns_per_mib_; }
  uint64_t extra_headroom_bytes() const { return extra_headroom_bytes_; }
  uint64_t held_bytes() const { return hold_.held_bytes(); }
  const TickPlannerConfig& config() const { return config_; }

 private:
  TickPlannerConfig config_;
  ResidencyCache cache_;
  WindowCursors cursors_;
  PageLookupCache page_lookups_;
  double move_cost_ns_per_mib_;
  uint64_t extra_headroom_bytes_ = 0;
  int64_t dip_ticks_ = 0;  // consecutive ticks free FMEM sat below headroom/4
  PromotionHold hold_;
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_TICK_PLANNER_H_

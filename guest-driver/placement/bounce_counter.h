// BounceCounter: promoted pages demoted again soon after -- a bounce.
//
// A bounce is two migrations that bought nothing: the page went up and
// came back down within `window_ns`, so the hit it was promoted for (if
// any) did not repay the copies.  Their share of promotions is the
// measure of wasted migration that issue "Hotness that beats Memtis" asks
// for; hplaced reports it in its status, tiervm-sim for every policy.
//
// Keyed by (pid, address of the move): a base page or a THP is one move
// and one key.  A page promoted again replaces its earlier promotion; a
// demotion ends it (bounced or not).  Memory: one entry per promotion
// younger than the window, at most `max_pages` (0: no bound); past the
// bound the oldest promotions are forgotten (counted in `forgotten`), so
// a bounce of theirs goes unseen -- the share then errs low, never high.
//
// Pure (times are passed in); one thread.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_BOUNCE_COUNTER_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_BOUNCE_COUNTER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "placement/types.h"

namespace tiervm::placement {

struct BounceCounterConfig {
  int64_t window_ns = 10'000'000'000;  // a demotion this soon is a bounce
  size_t max_pages = 1 << 20;          // promotions remembered (0: no bound)
};

struct BounceStats {
  uint64_t promotions = 0;   // moves to FMEM
  uint64_t promoted_bytes = 0;
  uint64_t bounced = 0;      // of those, demoted within the window
  uint64_t bounced_bytes = 0;
  uint64_t forgotten = 0;    // promotions dropped by the max_pages bound
};

class BounceCounter {
 public:
  explicit BounceCounter(BounceCounterConfig config = {}) : config_(config) {}

  // A move applied at `now_ns` (monotonic, never decreasing).
  void Promoted(Pid pid, Vaddr addr, uint64_t bytes, int64_t now_ns);
  void Demoted(Pid pid, Vaddr addr, int64_t now_ns);

  const BounceStats& stats() const { return stats_; }
  // Bounced promotions per promotion, in bytes (0 before any).
  double bounced_share() const;
  size_t remembered() const { return promoted_at_.size(); }

 private:
  using Key = std::tuple<Pid, Vaddr>;
  struct Promotion {
    int64_t at_ns = 0;
    uint64_t bytes = 0;
  };
  // Drops promotions older than the window (and over the bound).
  void Expire(int64_t now_ns);

  BounceCounterConfig config_;
  BounceStats stats_;
  // Key -> its latest promotion.
  absl::flat_hash_map<Key, Promotion> promoted_at_;
  // Promotions in time order; an entry whose time no longer matches the
  // map (promoted again, or demoted) is stale and skipped.
  std::deque<std::pair<Key, int64_t>> order_;
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_BOUNCE_COUNTER_H_

// Classifier: which ranges deserve FMEM, given one tracker snapshot.
//
// Ranks memory by sampled weight per resident byte and fills the FMEM
// target (capacity minus a headroom watermark) hottest first; the unit at
// the boundary is hot in part, so the hot set matches the target exactly
// when there is enough sampled memory.  Yields promote candidates (hot bytes
// on SMEM) and demote candidates (cold bytes on FMEM), and the hotness curve
// the host agent uses to size this VM's FMEM.
//
// Two levels.  A range is one unit of even density unless its page counts
// (TrackerSnapshot::page_heat) say its pages differ more than sampling
// noise would make them: a Poisson count has variance = mean, so a range
// whose page counts have variance > mean holds hot and cold pages (hot
// keys scattered over a heap).  Such a range is "page-resolved": each
// page's density is the range's density scaled by the page's count shrunk
// towards the range mean (empirical Bayes with a gamma prior fitted to the
// range's count mean and variance), so a page sampled once in a range of
// even pages is not taken for hot, and one sampled often in a range of cold
// pages is.  Its counted pages and its uncounted rest are then units of
// their own; the planner picks its pages one by one against cut_density.
//
// Pure: a function of (snapshot, page locations, config).  The result owns
// its vectors and is immutable; share it freely.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_CLASSIFIER_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_CLASSIFIER_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "placement/page_locator.h"
#include "placement/snapshot.h"

namespace tiervm::placement {

struct ClassifierConfig {
  // FMEM the placement may fill: the node's capacity after ballooning minus
  // what it cannot move (kernel, page cache; the daemon estimates it).
  uint64_t fmem_capacity_bytes = 0;
  // Kept free below capacity: move_pages needs free FMEM to land in (no
  // in-place exchange on a stock kernel) and the balloon needs room to grow.
  uint64_t headroom_bytes = 0;
  // Units (ranges, pages) with less sampled weight per MiB than this are
  // never hot: data touched once, at start-up, must not claim FMEM.
  double min_hot_weight_per_mib = 0;
};

struct RangeClass {
  size_t snapshot_index = 0;  // into TrackerSnapshot::ranges()
  Pid pid = 0;
  Vaddr start = 0;
  Vaddr end = 0;
  double weight = 0;
  double density = 0;  // weight per resident MiB
  Residency residency;
  uint64_t hot_bytes = 0;  // resident bytes this range should have on FMEM
  // Below the classifier's min_hot_weight_per_mib: its pages weigh 0.
  bool faint = false;
  // Page-resolved (see the file comment): a page's density is
  // density * (page_alpha + count) / ((page_beta + 1) * page_mean_count),
  // count = its mean page count per 4 KiB.
  bool page_resolved = false;
  double page_alpha = 0, page_beta = 0, page_mean_count = 0;
  // The densities of its hottest and coldest unit (== density unless
  // page-resolved): the promote and demote lists are ordered by them.
  double max_density = 0, min_density = 0;
  // At most this much should move (0 when the range is in place).  Exact
  // for a range of even density; for a page-resolved one an upper bound:
  // which of its pages are hot is known, not where they are.
  uint64_t promote_max_bytes = 0, demote_max_bytes = 0;
  // A page-resolved range's counted pages: (count, address), unordered.
  std::vector<std::pair<float, Vaddr>> counted_pages;

  uint64_t promote_bytes() const { return promote_max_bytes; }
  uint64_t demote_bytes() const { return demote_max_bytes; }
};

// One vertex of the hotness curve: the hottest `bytes` resident bytes
// cover `covered_fraction` of all sampled weight.
struct HotnessPoint {
  uint64_t bytes = 0;
  double covered_fraction = 0;
};

struct Classification {
  uint64_t target_fmem_bytes = 0;  // capacity - headroom
  uint64_t hot_bytes = 0;          // sum of RangeClass::hot_bytes
  uint64_t resident_bytes = 0;     // over all located ranges
  uint64_t fmem_bytes = 0;         // tracked resident bytes on FMEM now
  double total_weight = 0;
  double fmem_weight_fraction = 0;  // estimated share of weight on FMEM now
  size_t unlocated_ranges = 0;      // process gone between snapshot and now
  size_t page_resolved_ranges = 0;
  // Pages of page-resolved ranges at or above this density are hot, below
  // it cold (+inf: nothing is hot).
  double cut_density = 0;
  std::vector<RangeClass> ranges;   // densest first; resident ranges only
  std::vector<size_t> promote;      // indices into ranges, hottest unit first
  std::vector<size_t> demote;       // indices into ranges, coldest unit first
  // Vertices of the piecewise-linear hotness curve, from (0, 0) to
  // (resident_bytes, 1): non-decreasing in both coordinates.
  std::vector<HotnessPoint> curve;

  // The curve at `bytes` (linear between vertices, 1 beyond the end).
  double CoveredFraction(uint64_t bytes) const;
};

// InvalidArgument if headroom exceeds capacity; locator errors other than
// NotFound (a process that exited) are returned as they are.
absl::StatusOr<Classification> Classify(const TrackerSnapshot& snapshot,
                                        const PageLocator& locator,
                                        const ClassifierConfig& config);

// Estimated sampled weight per MiB of the page [addr, addr + bytes) of
// `rc` (0 in a faint range): from its page counts in a page-resolved
// range, else from the range's sub-blocks.
double PageDensity(const TrackerSnapshot& snapshot, const RangeClass& rc, Vaddr addr,
                   uint64_t bytes);

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_CLASSIFIER_H_

// Classifier: which ranges deserve FMEM, given one tracker snapshot.
//
// Ranks ranges by sampled weight per resident byte and fills the FMEM
// target (capacity minus a headroom watermark) hottest first; the range at
// the boundary is hot in part, so the hot set matches the target exactly
// when there is enough sampled memory.  Yields promote candidates (hot bytes
// on SMEM) and demote candidates (cold bytes on FMEM), and the hotness curve
// the host agent uses to size this VM's FMEM.
//
// Pure: a function of (snapshot, page locations, config).  The result owns
// its vectors and is immutable; share it freely.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_CLASSIFIER_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_CLASSIFIER_H_

#include <cstddef>
#include <cstdint>
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

  // What should move, in bytes (0 when the range is already in place).
  uint64_t promote_bytes() const {
    return hot_bytes > residency.fmem_bytes ? hot_bytes - residency.fmem_bytes : 0;
  }
  uint64_t demote_bytes() const {
    return residency.fmem_bytes > hot_bytes ? residency.fmem_bytes - hot_bytes : 0;
  }
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
  std::vector<RangeClass> ranges;   // hottest first; resident ranges only
  std::vector<size_t> promote;      // indices into ranges, hottest first
  std::vector<size_t> demote;       // indices into ranges, coldest first
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

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_CLASSIFIER_H_

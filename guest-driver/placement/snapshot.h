// TrackerSnapshot: the immutable view of all ranges that one tick plans on.
//
// RangeTracker::Snapshot() builds one per tick; the classifier and the
// exchange planner read it and never the live tracker, so planning is a pure
// function of (snapshot, page locations, config).  Tests and the simulator
// may also build snapshots by hand.  A snapshot owns its ranges; after
// construction it is read-only and therefore safe to share between threads.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_SNAPSHOT_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_SNAPSHOT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "placement/types.h"

namespace tiervm::placement {

// Each range keeps its sampled weight in this many equal sub-blocks, so a
// split can pick where to cut and the planner can see how evenly a 2 MiB
// page is used.
inline constexpr int kSubBlocks = 8;

// Decayed sampled weight of one address range [start, end) of one process.
struct RangeStats {
  Pid pid = 0;
  Vaddr start = 0;
  Vaddr end = 0;
  double weight = 0;        // decayed sum of sample weights in the range
  double store_weight = 0;  // the part of `weight` from stores
  // weight per equal sub-block; sums to `weight`
  std::array<double, kSubBlocks> sub_weight{};
  // Moments of the page counts (PageHeatMap) inside the range: pages
  // counted, sum and sum of squares of their counts.
  uint64_t page_counted = 0;
  double page_sum = 0, page_sum_sq = 0;

  uint64_t bytes() const { return end - start; }
  // Sampled weight per MiB: comparable between ranges of any size.
  double density() const {
    return weight * static_cast<double>(1 << 20) / static_cast<double>(bytes());
  }
  // Estimated weight in [a, b), assuming uniform access inside a sub-block.
  double WeightIn(Vaddr a, Vaddr b) const;
  // Mean and variance of the page counts taken over `present_bytes` worth
  // of 4 KiB pages (uncounted pages count 0; never fewer pages than are
  // counted).
  struct CountMoments {
    double mean = 0;
    double var = 0;
  };
  CountMoments PageCountMoments(uint64_t present_bytes) const;
  // True when those counts vary more than Poisson noise would make them
  // (variance > mean): hot and cold pages share the range.
  bool PageCountsOverDispersed(uint64_t present_bytes) const;
};

// Decayed counts of base-page samples, per 4 KiB page of one process:
// virtual page number (vaddr / 4096) -> sample count (RangeTracker's
// page_decay_factor decays it).  Only samples of weight 1 count here: a
// sample that stands for several pages (a young THP block of the
// accessed-bit source) says nothing about any one 4 KiB page.
using PageHeatMap = absl::flat_hash_map<uint64_t, float>;
// Per process, sorted by pid.  Shared, never modified once handed out
// (the tracker copies a map before changing one a snapshot holds).
using PageHeat = std::vector<std::pair<Pid, std::shared_ptr<const PageHeatMap>>>;

class TrackerSnapshot {
 public:
  TrackerSnapshot() = default;
  // `ranges` must be sorted by (pid, start) and disjoint per pid
  // (PLACEMENT_CHECK: only the tracker and tests build snapshots);
  // `pages` sorted by pid.
  TrackerSnapshot(uint64_t epoch, std::vector<RangeStats> ranges, PageHeat pages = {});

  uint64_t epoch() const { return epoch_; }
  const std::vector<RangeStats>& ranges() const { return ranges_; }
  double total_weight() const { return total_weight_; }
  uint64_t total_bytes() const { return total_bytes_; }

  // Estimated sampled weight of [start, end) in `pid`, summed over the
  // ranges it overlaps.  O(log n + ranges overlapped).
  double WeightIn(Pid pid, Vaddr start, Vaddr end) const;

  // Weight of [start, end) split into kSubBlocks equal parts.
  std::array<double, kSubBlocks> Profile(Pid pid, Vaddr start, Vaddr end) const;

  // Page-level counts (empty when the tracker keeps none).
  const PageHeat& page_heat() const { return pages_; }
  // The counts of `pid`, or nullptr.  O(log processes).
  const PageHeatMap* PagesOf(Pid pid) const;
  // Summed page counts of the 4 KiB pages in [start, end) of `pid`: one
  // hash lookup per page.
  double PageCountIn(Pid pid, Vaddr start, Vaddr end) const;

 private:
  uint64_t epoch_ = 0;
  std::vector<RangeStats> ranges_;
  PageHeat pages_;
  double total_weight_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_SNAPSHOT_H_

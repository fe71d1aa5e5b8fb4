// RangeTracker: per-process ranges of guest-virtual addresses with decayed
// sampled-access weights, refined where accesses are skewed and coarsened
// where neighbours look alike.  README.md draws the rules.
//
// Owns: every tracked process's sorted, disjoint ranges.  Ranges cover the
// caller-supplied VMAs (joined where contiguous) and nothing else; the total
// number of ranges over all processes never exceeds config.max_ranges.
//
// Cost: Ingest is O(log n) in the process's range count (a binary search
// over a dense array of range starts) plus one hash lookup, cached for runs
// of samples from one pid.  EndEpoch, SetVmas and Snapshot are O(n log n).
//
// Units: addresses and lengths in bytes, weights in sample-weight units
// (see Sample::weight).
//
// Thread-safety: none; one thread owns a tracker (the daemon's policy
// thread).  Snapshots it hands out are immutable and shareable.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_RANGE_TRACKER_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_RANGE_TRACKER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "placement/snapshot.h"
#include "placement/types.h"

namespace tiervm::placement {

struct RangeTrackerConfig {
  // Split cuts fall on multiples of this (a power of two >= 4 KiB).  2 MiB
  // matches THP and Demeter's granularity; smaller values suit guests
  // without THP at the price of more epochs to converge.
  uint64_t min_range_bytes = kHugePageBytes;
  // VMA spans shorter than this are not tracked: not worth placing, and
  // they would eat the range budget (a process may have 65k VMAs).
  uint64_t min_span_bytes = kHugePageBytes;
  // Hard bound on ranges over all processes (Demeter uses 2048).
  size_t max_ranges = 2048;
  // Every EndEpoch multiplies all weights by this, in (0, 1].
  double decay_factor = 0.5;
  // A range splits only with at least this much weight: below it the
  // skew between sub-blocks is mostly sampling noise.
  double split_min_weight = 32;
  // ... and only if the densities on the two sides of the best cut differ
  // by this contrast |dl - dr| / (dl + dr) in [0, 1]; 0.5 means 3x.
  double split_contrast = 0.5;
  // Adjacent ranges merge when their contrast is below this.  Keep it well
  // under split_contrast so a fresh split is not undone (hysteresis).
  double merge_contrast = 0.2;
  // Adjacent ranges also merge when together they hold less than this
  // weight: too few samples to tell them apart, so their budget is better
  // spent elsewhere.
  double merge_max_weight = 1.0;
  // Page level: besides its range, every sample of weight 1 counts for
  // its 4 KiB page, for at most this many pages over all processes (about
  // 20 bytes each; 0 turns page counts off).  Once the table is full a
  // page not yet counted is not added (stats().page_samples_unstored);
  // an EndEpoch after such a miss forgets the coldest counts down to 3/4
  // of the table.  Ranges are the index; the counts tell the hot pages of
  // a range from its cold ones (the classifier).  Every tick's
  // classification costs O(counted pages) for ranges it resolves: 65,536
  // (256 MiB of 4 KiB pages) bounds that in a TCG guest.
  size_t max_page_counts = 65536;
  // Every EndEpoch multiplies page counts by this, in (0, 1]; slower than
  // decay_factor, since a page is sampled far less often than a range
  // and needs a longer memory for its count to mean anything.  0.99
  // (a half-life of 69 epochs) against 0.97 in tiervm-sim's full run:
  // hit ratio up on every recording (rec_redis 0.906 -> 0.935x the
  // oracle, rec_sqlite 0.931 -> 0.947x), 19-29 % fewer migrations on them
  // and on zipf_kv, bounced share 0.33 -> 0.27 there; gups_hot and
  // phase_shift within 0.002.
  double page_decay_factor = 0.99;
  // Counts below this are forgotten at EndEpoch (>= 0).
  double page_min_count = 0.1;

  absl::Status Validate() const;
};

struct RangeTrackerStats {
  uint64_t samples_ingested = 0;
  uint64_t samples_unknown_pid = 0;  // pid never given SetVmas
  uint64_t samples_unmapped = 0;     // address outside every tracked range
  uint64_t epochs = 0;
  uint64_t splits = 0;
  uint64_t merges = 0;         // alike or idle neighbours
  uint64_t forced_merges = 0;  // to stay within max_ranges
  uint64_t dropped_spans = 0;  // spans not tracked for lack of budget
  uint64_t page_counts = 0;            // pages with a count now
  uint64_t page_samples_unstored = 0;  // weight-1 samples of uncounted pages, table full
};

class RangeTracker {
 public:
  // CHECK-fails on an invalid config: validate user input with
  // RangeTrackerConfig::Validate() first.
  explicit RangeTracker(const RangeTrackerConfig& config);

  // Tells the tracker the current VMAs of `pid` (start/end page-aligned,
  // non-overlapping, any order).  Weight of ranges that stay mapped is kept,
  // weight of unmapped parts is dropped, new areas start at zero.  May merge
  // or drop spans to stay within max_ranges.  InvalidArgument on a bad VMA
  // list (the tracker is then unchanged).
  absl::Status SetVmas(Pid pid, absl::Span<const Vma> vmas);

  // Forgets a process that exited.  NotFound if it was not tracked.
  absl::Status RemoveProcess(Pid pid);

  // Adds one sample.  Samples of unknown pids or unmapped addresses are
  // counted in stats() and otherwise ignored.
  void Ingest(const Sample& sample);
  void Ingest(absl::Span<const Sample> samples) {
    for (const Sample& s : samples) Ingest(s);
  }

  // Closes an epoch: merge alike neighbours, split skewed ranges (within
  // the budget), then decay every weight.  Returns the number of ranges.
  size_t EndEpoch();

  // Copies all ranges into an immutable snapshot sorted by (pid, start).
  TrackerSnapshot Snapshot() const;

  // Pids seen in samples without SetVmas since the last call (at most 256
  // remembered), so the daemon knows whose maps to read.
  std::vector<Pid> TakeUnknownPids();

  size_t range_count() const { return range_count_; }
  size_t process_count() const { return processes_.size(); }
  const RangeTrackerStats& stats() const { return stats_; }
  const RangeTrackerConfig& config() const { return config_; }

 private:
  struct Range {
    Vaddr start = 0;
    Vaddr end = 0;
    // floor(2^64 * kSubBlocks / length): sub-block of offset `off` is
    // (off * recip) >> 64, a multiply instead of a divide on the hot path.
    uint64_t recip = 0;
    double weight = 0;
    double store_weight = 0;
    std::array<double, kSubBlocks> sub{};
    // Moments of the page counts inside the range (RangeStats), kept up to
    // date by Ingest and recomputed wherever ranges or counts change
    // otherwise (RecountPageMoments).
    uint64_t page_counted = 0;
    double page_sum = 0, page_sum_sq = 0;
  };
  struct Process {
    std::vector<Vaddr> starts;  // == ranges[i].start, dense for the search
    std::vector<Range> ranges;  // sorted, disjoint
    // Page counts inside `ranges`; shared with the snapshots taken since
    // the last change, copied before the next (MutablePages).
    std::shared_ptr<PageHeatMap> pages;
    // Range bounds changed since the page moments were computed.
    bool moments_stale = false;
  };

  static Range MakeRange(Vaddr start, Vaddr end);
  // A range [start, end) carrying the weight `sources` hold inside it.
  static Range Carve(absl::Span<const Range> sources, Vaddr start, Vaddr end);
  static double Contrast(const Range& a, const Range& b);
  static RangeStats ToStats(Pid pid, const Range& r);

  void Rebuild(Process& p, std::vector<Range> ranges);
  size_t MergePass(Process& p);
  size_t SplitPass();
  void EnforceBudget(Pid victim);
  void RecountRanges();
  static PageHeatMap& MutablePages(Process& p);
  void CountPage(Process& p, Range& r, Vaddr vaddr);
  // Recomputes every range's page moments of `p` from its counts.
  static void RecountPageMoments(Process& p);
  // The range of `p` holding `a`, or nullptr.
  static Range* RangeOf(Process& p, Vaddr a);
  // Forgets the counts of pages outside p's ranges.
  void PrunePages(Process& p);
  void RecountPages();
  void MakeRoomForNewPages();

  RangeTrackerConfig config_;
  absl::flat_hash_map<Pid, Process> processes_;
  absl::flat_hash_set<Pid> unknown_pids_;
  // Last process Ingest looked up; reset whenever processes_ changes.
  Pid cached_pid_ = 0;
  Process* cached_process_ = nullptr;
  size_t range_count_ = 0;
  uint64_t epoch_ = 0;
  RangeTrackerStats stats_;
  uint64_t unstored_at_epoch_ = 0;  // stats_.page_samples_unstored at the last EndEpoch
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_RANGE_TRACKER_H_

// Baseline placement models for tiervm-sim.  Each is a model of a real
// system's decision logic, not a port of its code; each class comment says
// which behaviour it imitates and what it leaves out.  All run in the same
// Simulation (sim.h) as our placement library, on the same trace, with the
// same latency model and first-touch allocation.
//
// Time constants default to the source's defaults (perf-anchors.md §1,
// mission-anchors.md §1b-1c) and are physical: modelled ns.
// Thread-safety: none; one simulation thread.
#ifndef TIERVM_BENCHMARKS_SIM_MODELS_H_
#define TIERVM_BENCHMARKS_SIM_MODELS_H_

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sim/sim.h"

namespace tiervm::sim {

// Static first-touch: pages stay where they were first allocated (FMEM
// until full, then SMEM), as a kernel without tiering.  Never migrates.
class FirstTouchPolicy final : public Policy {
 public:
  std::string Name() const override { return "first_touch"; }
  double OnAccess(Simulation&, uint64_t, uint32_t) override { return 0; }
};

// Offline oracle: the best static placement for each epoch of
// `epoch_accesses` accesses, from the full trace.  At each epoch start it
// puts the epoch's `capacity` most-accessed pages on FMEM (top-K by access
// count maximises FMEM hits of a static placement, since every page has
// the same size), demoting only as many other pages as it needs room for.
// Pages of the set not yet touched get a reserved FMEM frame.  It pays the
// same migration costs as everyone (reported), but its hit ratio is the
// bound the others are measured against.  Leaves out: placement changes
// inside an epoch (a finer oracle would do better), migration-cost-aware
// choices.
class OraclePolicy final : public Policy {
 public:
  explicit OraclePolicy(uint64_t epoch_accesses) : epoch_accesses_(epoch_accesses) {}
  std::string Name() const override { return "oracle"; }
  absl::Status Init(Simulation& sim) override;
  void BeginRecord(Simulation& sim, uint64_t index) override;
  Tier AllocTier(Simulation& sim, uint32_t page) override;
  double OnAccess(Simulation&, uint64_t, uint32_t) override { return 0; }

  // The per-epoch FMEM sets (page ids, sorted), available after Init.
  const std::vector<std::vector<uint32_t>>& epoch_sets() const { return sets_; }
  // Per epoch: the share of its best FMEM hits that the previous epoch's
  // set would have got (1 for the first epoch), and its length in accesses.
  const std::vector<double>& prev_set_hit_fraction() const { return prev_set_hit_fraction_; }
  const std::vector<uint64_t>& epoch_accesses() const { return epoch_len_; }
  // First record index of each epoch.
  const std::vector<uint64_t>& epoch_first_record() const { return first_record_; }
  // First access index (sum of weights before it) of each epoch.
  const std::vector<uint64_t>& epoch_first_access() const { return first_access_; }

 private:
  void EnterEpoch(Simulation& sim, size_t e);

  uint64_t epoch_accesses_;
  std::vector<std::vector<uint32_t>> sets_;
  std::vector<uint64_t> first_record_;
  std::vector<uint64_t> first_access_;
  std::vector<double> prev_set_hit_fraction_;
  std::vector<uint64_t> epoch_len_;
  std::vector<uint8_t> in_set_;
  size_t epoch_ = 0;
  uint64_t reserved_ = 0;  // set pages not yet present
};

// NUMA balancing in memory-tiering mode (kernel.numa_balancing=2, the
// upstreamed part of TPP).  Imitates kernel/sched/fair.c and mm/:
//  - task_numa_work: every scan period, the next `scan_size` bytes of the
//    address space (wrapping) get PROT_NONE hint-fault PTEs; in tiering
//    mode pages on the top tier are skipped, and the scan time is stored
//    in the page (folio_xchg_access_time).  The PTE walk runs in the task's
//    context, so its cost is charged to the workload.
//  - do_numa_page/should_numa_migrate_memory: the next access takes a hint
//    fault (charged); the page is a candidate if the fault latency (now -
//    scan time) is below the hot threshold; numa_promotion_rate_limit
//    allows at most rate_limit MB per second-long window; the threshold is
//    adjusted each window by numa_promotion_adjust_threshold (±1/8 of the
//    reference threshold toward the rate limit, 16 steps).
//  - Promotion fails when FMEM free is below the high watermark
//    (numa_node_full); kswapd then demotes (demotion_enabled) cold pages,
//    picked by a CLOCK sweep over FMEM pages with their referenced bits
//    (the active/inactive LRU approximated as second chance), until free
//    reaches the promo watermark (WMARK_PROMO).
// Leaves out: scan-period adaptation (kept at the minimum period, the most
// aggressive setting), per-task scan delay, the TPP active-LRU check before
// promotion (upstream replaced it by the latency threshold), THP split on
// fault, NUMA-locality (non-tiering) migrations.
struct TppConfig {
  int64_t scan_period_ns = 1'000'000'000;    // numa_balancing_scan_period_min_ms
  uint64_t scan_size_bytes = 256ull << 20;   // numa_balancing_scan_size_mb
  int64_t hot_threshold_ns = 1'000'000'000;  // numa_balancing_hot_threshold_ms
  double rate_limit_mb_per_s = 65536;        // numa_balancing_promote_rate_limit_MBps
  int64_t rate_window_ns = 1'000'000'000;
  // numa_promotion_adjust_threshold runs once per th_period, which the
  // kernel sets to numa_balancing_scan_period_max_ms (60 s).
  int64_t threshold_adjust_period_ns = 60'000'000'000;
  // Watermarks in pages of FMEM capacity, as fractions (zone watermarks are
  // ~0.1-1 % of a node; WMARK_PROMO adds 1 % on top of high).
  double wmark_low_frac = 0.005;
  double wmark_high_frac = 0.01;
  double wmark_promo_frac = 0.02;
  int64_t kswapd_period_ns = 10'000'000;  // how often kswapd may run
};

class TppPolicy final : public Policy {
 public:
  explicit TppPolicy(const TppConfig& config) : c_(config) {}
  std::string Name() const override { return "numab2_tpp"; }
  absl::Status Init(Simulation& sim) override;
  double OnAccess(Simulation& sim, uint64_t index, uint32_t page) override;
  int64_t NextWakeNs() const override { return next_wake_ns_; }
  absl::Status Wake(Simulation& sim) override;
  std::vector<std::pair<std::string, double>> Extra() const override;

  // For tests.
  uint64_t promoted_in_window_max_pages() const { return max_window_pages_; }
  uint64_t candidates() const { return candidates_; }

 private:
  void Scan(Simulation& sim);
  void Kswapd(Simulation& sim);
  void AdjustThreshold(Simulation& sim);

  TppConfig c_;
  std::vector<int64_t> unmapped_at_;  // -1: mapped
  std::vector<uint8_t> referenced_;
  uint32_t scan_cursor_ = 0;
  uint32_t clock_hand_ = 0;
  int64_t next_scan_ns_ = 0;
  int64_t next_kswapd_ns_ = 0;
  int64_t window_start_ns_ = 0;
  int64_t th_window_start_ns_ = 0;
  int64_t next_wake_ns_ = 0;
  int64_t threshold_ns_ = 0;
  uint64_t window_pages_ = 0;
  uint64_t window_candidates_ = 0;
  uint64_t max_window_pages_ = 0;
  uint64_t candidates_ = 0;
  uint64_t rate_limited_ = 0;
  uint64_t node_full_ = 0;
  bool kswapd_wanted_ = false;
};

// Memtis-like (SOSP'23): PEBS samples of LLC-miss loads every
// `sample_period` accesses (htmm_sample_period = 199; PEBS cost charged per
// sample); a per-page access count; pages binned by log2(count) into a
// 16-bin histogram; every `adaptation_samples` samples the hot threshold
// becomes the lowest bin whose pages, with all hotter bins, fit in FMEM;
// every `cooling_samples` samples all counts halve (cooling).  kmigraterd
// wakes every `migrate_period_ns`, demotes FMEM pages below the threshold
// while free FMEM is below the reserve + what the hot SMEM pages need, and
// promotes SMEM pages at or above the threshold, hottest bin first, at most
// rate_limit MB/s.  Leaves out: huge-page split decisions and the estimated
// base-page histogram, warm-set handling, store sampling, ksampled's CPU
// cap (3 % of a core; our sampling at period 199 stays below it here).
struct MemtisConfig {
  uint64_t sample_period = 199;
  uint64_t cooling_samples = 2'000'000;
  uint64_t adaptation_samples = 100'000;
  int64_t migrate_period_ns = 500'000'000;
  double rate_limit_mb_per_s = 100;  // MAX_MIGRATION_RATE_IN_MBPS
  double reserve_frac = 0.01;        // HTMM_MIN_FREE_PAGES (10 MB of ~1 GiB)
  uint64_t seed = 1;
};

class MemtisPolicy final : public Policy {
 public:
  explicit MemtisPolicy(const MemtisConfig& config) : c_(config), rng_(config.seed) {}
  std::string Name() const override { return "memtis"; }
  absl::Status Init(Simulation& sim) override;
  double OnAccess(Simulation& sim, uint64_t index, uint32_t page) override;
  int64_t NextWakeNs() const override { return next_wake_ns_; }
  absl::Status Wake(Simulation& sim) override;
  std::vector<std::pair<std::string, double>> Extra() const override;

  static int Bin(uint32_t count);  // 0 for count 0, else 1 + floor(log2(count)), max 15
  int hot_bin() const { return hot_bin_; }

 private:
  void Adapt(Simulation& sim);
  void Cool();

  MemtisConfig c_;
  std::mt19937_64 rng_;
  std::vector<uint32_t> count_;
  std::array<uint64_t, 16> hist_{};
  int64_t countdown_ = 0;
  uint64_t samples_ = 0;
  uint64_t coolings_ = 0;
  int hot_bin_ = 1;
  int64_t next_wake_ns_ = 0;
};

// DAMON with DAMOS migrate_hot / migrate_cold (v6.11+, as in
// samples/damon/mtier.c).  Regions start as `min_regions` equal parts of
// each span.  Every sampling interval each region checks the accessed bit
// of one random page it sampled last time (nr_accesses++ if set), then
// clears the bit of a new random page.  Every aggregation interval: the
// schemes act, then adjacent regions whose nr_accesses differ by at most 10
// % of the maximum merge, then (while under max_regions / 2) each region
// splits at a random point, nr_accesses resets and ages advance.  Schemes:
// migrate_hot moves regions with nr_accesses >= hot_min_pct % of the
// maximum to FMEM, hottest first, while FMEM use is below the goal
// (node_mem_used_bp, 99.7 %); migrate_cold moves regions with nr_accesses
// == 0 and age >= cold_min_age aggregations to SMEM, oldest first, while
// FMEM free is below the goal (0.5 %); both within a size quota per second.
// The A-bit checks run in kdamond (background CPU, not charged).  Leaves
// out: quota auto-tuning by feedback (approximated by the goal gates),
// priority weights, the operations-set's page-table-walk details,
// interval auto-tuning.
struct DamonConfig {
  int64_t sample_interval_ns = 5'000'000;
  int64_t aggr_interval_ns = 100'000'000;
  size_t min_regions = 10;
  size_t max_regions = 1000;
  double hot_min_pct = 5;
  int cold_min_age = 10;  // aggregations (1 s)
  double fmem_used_goal = 0.997;
  double fmem_free_goal = 0.005;
  double quota_mb_per_s = 200;
  uint64_t seed = 1;
};

class DamonPolicy final : public Policy {
 public:
  explicit DamonPolicy(const DamonConfig& config) : c_(config), rng_(config.seed) {}
  std::string Name() const override { return "damon"; }
  absl::Status Init(Simulation& sim) override;
  double OnAccess(Simulation& sim, uint64_t index, uint32_t page) override;
  int64_t NextWakeNs() const override { return next_wake_ns_; }
  absl::Status Wake(Simulation& sim) override;
  std::vector<std::pair<std::string, double>> Extra() const override;

  struct Region {
    uint32_t first = 0;  // page ids [first, last), within one span
    uint32_t last = 0;
    uint32_t sampled = 0;
    uint32_t nr_accesses = 0;
    uint32_t last_nr_accesses = 0;
    int age = 0;
  };
  const std::vector<Region>& regions() const { return regions_; }

 private:
  void Sample(Simulation& sim);
  void Aggregate(Simulation& sim);
  uint32_t RandomPage(const Region& r);

  DamonConfig c_;
  std::mt19937_64 rng_;
  std::vector<Region> regions_;
  std::vector<uint8_t> accessed_;
  std::vector<uint32_t> span_of_page_;  // span index per page (merge only within a span)
  int64_t next_sample_ns_ = 0;
  int64_t next_aggr_ns_ = 0;
  int64_t next_wake_ns_ = 0;
  double quota_left_bytes_ = 0;
  int64_t quota_reset_ns_ = 0;
  uint64_t applied_hot_ = 0;
  uint64_t applied_cold_ = 0;
  uint64_t checks_ = 0;
};

}  // namespace tiervm::sim

#endif  // TIERVM_BENCHMARKS_SIM_MODELS_H_

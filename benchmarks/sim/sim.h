// tiervm-sim core: a trace-driven model of a two-tier guest.
//
// The trace (TVMTRACE v1, placement/replay_trace.h) is read as the guest's
// memory-access stream: record i is `weight` accesses to the page holding
// `vaddr` (a generator writes a 1/k sample of its stream with weight k, the
// recorder a PEBS-like 1/period sample of LLC misses with weight = period).
// Time advances with the accesses: each access costs its tier's latency
// (LatencyModel), and policies add what their mechanism costs the workload
// (migrations, hint faults, PEBS records).  One Simulation runs one Policy
// over a pre-resolved trace (SimTrace) and collects Metrics.
//
// Page table: every page of the trace's spans (2 MiB-aligned areas around the
// touched addresses, one id per page of `page_bytes`) is absent until first
// touch, then on FMEM or SMEM.  FMEM holds at most fmem_capacity_pages.
//
// Units are in the names; "accesses" are access counts (sums of weights).
// Thread-safety: none; one thread runs a simulation.
#ifndef TIERVM_BENCHMARKS_SIM_SIM_H_
#define TIERVM_BENCHMARKS_SIM_SIM_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "placement/bounce_counter.h"
#include "placement/types.h"

namespace tiervm::sim {

using placement::Pid;
using placement::Sample;
using placement::Tier;
using placement::Vaddr;

// Per-tier latency and per-operation costs, all in ns (perf-anchors.md §1, §6).
struct LatencyModel {
  double fmem_ns = 100;  // local DDR, idle: "< 100 ns"
  double smem_ns = 300;  // Optane ~305-346 ns; CXL 2-5x local DRAM
  // A migration costs the workload an unmap + TLB shootdown + remap
  // (remote shootdown: "microseconds") plus the copy at the page-copy
  // ceiling of one thread: ~3.4 GB/s for 4 KiB pages, ~11 GB/s for 2 MiB.
  double migrate_fixed_ns = 2000;
  double copy_gb_per_s_4k = 3.4;
  double copy_gb_per_s_2m = 11.0;
  // One NUMA hint fault: a minor fault, "a few 1000s of cycles".
  double hint_fault_ns = 1000;
  // One PEBS record (PMI + drain), paid by the workload: 200-300 ns.
  double pebs_sample_ns = 250;
  // Walking one PTE (NUMA-balancing scan, A-bit check).
  double pte_scan_ns = 20;

  double AccessNs(Tier t) const { return t == Tier::kFmem ? fmem_ns : smem_ns; }
  double MigrateNs(uint64_t page_bytes) const;
  absl::Status Validate() const;
};

// One span of one process: [start, end), pages first_page ..
struct SimSpan {
  Pid pid = 0;
  Vaddr start = 0;
  Vaddr end = 0;
  uint32_t first_page = 0;
};

// A trace resolved against its page table: spans and, per record, its page.
struct SimTrace {
  std::string name;
  uint64_t page_bytes = placement::kBasePageBytes;
  std::vector<Sample> records;
  std::vector<uint32_t> page_of;  // per record
  std::vector<SimSpan> spans;     // sorted by (pid, start)
  uint32_t num_pages = 0;
  uint64_t total_accesses = 0;  // sum of weights
  uint32_t touched_pages = 0;

  // Builds spans (2 MiB-aligned areas containing touched addresses, merged
  // when adjacent) and resolves every record.  InvalidArgument on page size
  // other than 4 KiB / 2 MiB or an empty trace.
  static absl::StatusOr<SimTrace> Build(std::string name, std::vector<Sample> records,
                                        uint64_t page_bytes);
  // Page id of (pid, vaddr), or -1 outside every span.
  int64_t PageOf(Pid pid, Vaddr vaddr) const;
  Vaddr PageAddr(uint32_t page) const;
  Pid PagePid(uint32_t page) const;
  const SimSpan& SpanOf(uint32_t page) const;
};

enum class PageState : uint8_t { kAbsent = 0, kFmem = 1, kSmem = 2 };

struct SimConfig {
  uint64_t fmem_capacity_pages = 0;
  LatencyModel latency;
  // Metrics are kept per window of this many accesses (time series, and the
  // time-to-90%-of-oracle measure).
  uint64_t window_accesses = 1 << 20;
  // A demotion this soon after the page's promotion counts as a bounce.
  int64_t bounce_window_ns = 10'000'000'000;
  // The oracle's per-epoch FMEM sets and each epoch's first access index
  // (OraclePolicy), when it ran first: at the end of every epoch the
  // policy's FMEM is compared with that epoch's set (precision, recall).
  const std::vector<std::vector<uint32_t>>* reference_sets = nullptr;
  const std::vector<uint64_t>* reference_first_access = nullptr;
};

// Counters of one run; see benchmarks/README.md for the JSON names.
struct Metrics {
  uint64_t accesses = 0;
  uint64_t fmem_accesses = 0;
  double modelled_ns = 0;        // total, including the costs below
  double access_ns = 0;          // the latency part
  double migrate_ns = 0;         // charged to the workload
  double hint_fault_ns = 0;
  double sampling_ns = 0;        // PEBS records
  double scan_ns = 0;            // PTE scanning in the task's context
  double background_cpu_ns = 0;  // modelled kernel-thread CPU, not charged
  uint64_t promotions = 0;       // pages moved SMEM -> FMEM
  uint64_t demotions = 0;        // pages moved FMEM -> SMEM
  uint64_t failed_promotions = 0;  // FMEM full at the time
  uint64_t hint_faults = 0;
  uint64_t samples = 0;
  uint64_t promotions_bounced = 0;  // demoted within bounce_window_ns of promotion
  // Per oracle epoch (SimConfig::reference_sets), at its end: the share of
  // FMEM pages in the epoch's set, and of the set on FMEM.
  std::vector<double> epoch_precision;
  std::vector<double> epoch_recall;
  // Per window: accesses and FMEM accesses in it, modelled ns at its end.
  std::vector<uint64_t> win_accesses;
  std::vector<uint64_t> win_fmem;
  std::vector<double> win_end_ns;
  std::vector<uint64_t> win_migrations;  // cumulative pages migrated at end

  double HitRatio() const {
    return accesses ? static_cast<double>(fmem_accesses) / static_cast<double>(accesses) : 0;
  }
};

class Simulation;

// A placement policy under test.  The simulation calls, per record: AllocTier
// on first touch, OnAccess before serving it (the policy may move the page,
// e.g. a hint fault), and Wake whenever modelled time passes NextWakeNs().
class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string Name() const = 0;
  virtual absl::Status Init(Simulation& sim) { (void)sim; return absl::OkStatus(); }
  // Called first for every record, before allocation and OnAccess (the
  // oracle changes its placement here at epoch boundaries).
  virtual void BeginRecord(Simulation& sim, uint64_t index) { (void)sim; (void)index; }
  // Where a page goes on first touch; default: FMEM while it has room
  // (the kernel allocates locally and falls back to the next node).
  virtual Tier AllocTier(Simulation& sim, uint32_t page);
  // Returns extra ns the first access of this record pays (a fault).
  virtual double OnAccess(Simulation& sim, uint64_t index, uint32_t page) = 0;
  virtual int64_t NextWakeNs() const { return std::numeric_limits<int64_t>::max(); }
  virtual absl::Status Wake(Simulation& sim) { (void)sim; return absl::OkStatus(); }
  // Free-form per-policy figures for the JSON (name, value).
  virtual std::vector<std::pair<std::string, double>> Extra() const { return {}; }
};

class Simulation {
 public:
  Simulation(const SimTrace* trace, const SimConfig& config);

  // Runs `policy` over the whole trace.  Errors come from the policy.
  absl::Status Run(Policy& policy);

  const SimTrace& trace() const { return *trace_; }
  const SimConfig& config() const { return config_; }
  const Metrics& metrics() const { return m_; }
  Metrics& mutable_metrics() { return m_; }
  int64_t now_ns() const { return static_cast<int64_t>(m_.modelled_ns); }
  // Accesses served so far (sum of weights before the current record).
  uint64_t accesses_done() const { return m_.accesses; }

  PageState state(uint32_t page) const { return state_[page]; }
  uint64_t fmem_used_pages() const { return fmem_used_; }
  uint64_t fmem_free_pages() const {
    return config_.fmem_capacity_pages > fmem_used_ ? config_.fmem_capacity_pages - fmem_used_ : 0;
  }
  // Moves a present page; charges the migration to the workload.  Returns
  // false (and counts a failed promotion) when FMEM is full, or if the page
  // is absent or already there.
  bool Move(uint32_t page, Tier dest);
  // Charges extra modelled time of a given kind.
  void ChargeSampling(double ns) { m_.sampling_ns += ns; m_.modelled_ns += ns; }
  void ChargeScan(double ns) { m_.scan_ns += ns; m_.modelled_ns += ns; }
  void ChargeBackground(double ns) { m_.background_cpu_ns += ns; }

 private:
  void Place(uint32_t page, Tier t);
  // Compares FMEM with the reference set of epoch `e`.
  void ScoreEpoch(size_t e);

  const SimTrace* trace_;
  SimConfig config_;
  std::vector<PageState> state_;
  // Bounces, by the rule hplaced reports them with (one source of truth);
  // unbounded: the simulator's figure is exact.
  placement::BounceCounter bounces_;
  uint64_t fmem_used_ = 0;
  Metrics m_;
};

// Results of one policy on one trace, after the run, plus derived figures.
struct RunResult {
  std::string policy;
  Metrics metrics;
  std::vector<std::pair<std::string, double>> extra;
};

}  // namespace tiervm::sim

#endif  // TIERVM_BENCHMARKS_SIM_SIM_H_

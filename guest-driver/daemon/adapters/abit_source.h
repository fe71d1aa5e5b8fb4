// AbitSampleSource: samples from the accessed bits of page tables, read
// and cleared by hballoon.ko (HBALLOON_IOC_SCAN_YOUNG through HballoonDev).
//
// The caller says what to scan: SetTargets(pid, vmas) per process (from
// /proc/PID/maps), RemoveTarget on exit.  Each Read scans the next part of
// the address space round-robin (process by process, VMA by VMA, in address
// order) and emits the young pages as samples, so every targeted page is
// revisited once per pass of TargetPages() pages.  How much one Read scans:
//
//   budget = min(max_pages_per_read, carry + rate * dt)
//
// where dt is the time since the previous Read (injected Clock), carry
// what earlier Reads left unspent and rate the scan rate, raised by the
// pass floor (max_pass_s > 0) to TargetPages() / max_pass_s, whose pages
// may go past max_pages_per_read: whatever rate the budget set, and
// however far apart the Reads are, every targeted page is scanned at least
// once per max_pass_s (a pass is at most one per Read).  With rate 0 every
// Read scans max_pages_per_read.  The budget counts address space (holes
// too), the unit the BudgetController's scan_cost_ns_per_page prices.  A
// scan starts only when the budget is at least one bitmap word (64 pages)
// and min_scan_interval_ms has passed since the previous scan: every scan
// that clears bits flushes every CPU's TLB, and a caller reads until no
// samples come, which a busy workload would otherwise never allow.
//
// Samples.  Young 4 KiB pages are reported per block of coalesce_bytes
// (aligned, default 256 KiB: one bitmap word): one Sample at the first young
// page of the block, weighing the young pages in it (kind kLoad: the
// accessed bit does not tell loads from stores; time = the clock at that
// ioctl).  A block never spans two of the caller's VMAs, even adjacent ones
// (their boundary may be a tracker range's).  Every sample costs the daemon
// its handling and the tracker's Ingest, a few hundred ns each under TCG:
// one per young page made a pass over a 64 MiB hot set cost 16,384 of them,
// most of a 1 % budget's sampling share, and the scan rate fell to its
// floor.  The tracker splits ranges at 2 MiB multiples into eighths, so a
// 256 KiB block loses nothing it uses; coalesce_bytes = 4096 reports every
// page (the tracker's page counts need that; hplaced keeps them off with
// this source).  A young PMD-mapped THP carries no
// information about which of its 4 KiB pages were used, so it is emitted as
// 8 samples, one per 256 KiB sub-block, each weighing that sub-block's
// pages inside the range (64 for a whole block, 512 in all).  The tracker
// thus sees 2 MiB worth of accesses, spread evenly, which keeps the THP
// whole in the exchange planner's unevenness test (a THP is promoted or
// demoted as one page anyway).
//
// Exit.  A process that is gone (ESRCH) is dropped from the targets and
// reported once by TakeExitedPids().  An ioctl interrupted (EINTR) ends
// that Read early.  Any other error breaks the source: Read returns it from
// then on (the driver lacks the ioctl, the device file went away).
//
// Samples found but not yet delivered (a short `out`) wait in a queue of at
// most one budget's worth; no new scan starts until it is empty.
//
// Owns its scan buffers; borrows `dev` and `clock`, which must outlive it.
// Not thread-safe.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_ABIT_SOURCE_H_
#define TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_ABIT_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "daemon/adapters/hballoon_dev.h"
#include "placement/clock.h"
#include "placement/sample_source.h"
#include "placement/types.h"

namespace tiervm::adapters {

struct AbitSourceOptions {
  // Upper bound of pages scanned per Read (multiple of 64, at most
  // HBALLOON_SCAN_MAX_PAGES per ioctl; larger budgets take several ioctls).
  uint64_t max_pages_per_read = 64 * 1024;
  // Pages per second of clock time; 0 = max_pages_per_read every Read.
  double scan_rate_pages_per_s = 0;
  // Longest time one pass over every target may take (s); 0: no floor.
  double max_pass_s = 0;
  // Shortest time between two scans (each flushes every CPU's TLB).
  int64_t min_scan_interval_ms = 100;
  // Young 4 KiB pages are reported per aligned block of this many bytes
  // (a power of two from 4 KiB to 256 KiB; see the file comment).
  uint64_t coalesce_bytes = 256 * 1024;
  // Test only: do not clear the accessed bits (HBALLOON_SCAN_F_NO_CLEAR).
  bool no_clear = false;
};

struct AbitSourceStats {
  uint64_t ioctls = 0;
  uint64_t scanned_pages = 0;   // address space covered, 4 KiB pages
  uint64_t present_pages = 0;
  uint64_t young_pages = 0;     // 4 KiB pages (a young THP counts 512)
  uint64_t young_huge_pages = 0;  // of those, mapped by a PMD
  uint64_t samples = 0;         // delivered by Read
  uint64_t passes = 0;          // completed round-robin passes
  uint64_t floor_reads = 0;     // scans whose budget the pass floor raised
  uint64_t exited = 0;          // processes dropped on ESRCH
};

class AbitSampleSource final : public placement::SampleSource {
 public:
  // `dev` and `clock` are borrowed.  InvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<AbitSampleSource>> Create(
      HballoonDev* dev, const placement::Clock* clock, AbitSourceOptions options);

  // Replaces the areas scanned for `pid` (empty removes it).  The VMAs must
  // be page aligned, non-empty, below kUserVaddrLimit and disjoint; they
  // are sorted and adjacent ones joined.  InvalidArgument otherwise (the
  // old targets stay).
  absl::Status SetTargets(placement::Pid pid, std::vector<placement::Vma> vmas);
  void RemoveTarget(placement::Pid pid);

  // For the BudgetController: pages per second (0 = per-Read maximum).
  void SetScanRate(double pages_per_s);
  double scan_rate_pages_per_s() const { return options_.scan_rate_pages_per_s; }

  // Pages in one full pass over every target (the revisit period is
  // TargetPages() / scan rate).
  uint64_t TargetPages() const;

  // Pids dropped since the last call because the process is gone.
  std::vector<placement::Pid> TakeExitedPids();

  const AbitSourceStats& stats() const { return stats_; }

  absl::StatusOr<size_t> Read(absl::Span<placement::Sample> out) override;
  // A live source: never exhausted (an empty target set yields 0 samples).
  bool Exhausted() const override { return false; }

 private:
  AbitSampleSource(HballoonDev* dev, const placement::Clock* clock, AbitSourceOptions options);
  // Scans up to `budget_pages` from the cursor; appends to pending_.
  absl::Status Scan(uint64_t budget_pages);
  // Scans one process from the cursor; returns pages covered.
  absl::StatusOr<uint64_t> ScanProcess(placement::Pid pid, uint64_t budget_pages, int64_t now_ns);
  void EmitRange(placement::Pid pid, const hballoon_scan_range& r, const uint64_t* young,
                 const uint64_t* huge, int64_t now_ns);
  void AdvanceToNextPid();

  HballoonDev* dev_;
  const placement::Clock* clock_;
  AbitSourceOptions options_;
  absl::Status broken_;
  // Targets: pid -> sorted, joined areas.
  std::map<placement::Pid, std::vector<placement::Vma>> targets_;
  // pid -> the starts of VMAs joined to the one before them, sorted: a
  // coalesced sample does not cross them.
  std::map<placement::Pid, std::vector<placement::Vaddr>> joins_;
  // Cursor: the process being scanned and the next address in it.
  placement::Pid cursor_pid_ = 0;
  placement::Vaddr cursor_addr_ = 0;
  bool have_cursor_ = false;
  int64_t last_read_ns_ = 0;
  bool have_last_read_ = false;
  int64_t last_scan_ns_ = 0;
  bool have_last_scan_ = false;
  double carry_pages_ = 0;
  std::deque<placement::Sample> pending_;
  std::vector<placement::Pid> exited_;
  // Scratch bitmaps for one ioctl.
  std::vector<uint64_t> young_words_, huge_words_;
  AbitSourceStats stats_;
};

}  // namespace tiervm::adapters

#endif  // TIERVM_GUEST_DRIVER_DAEMON_ADAPTERS_ABIT_SOURCE_H_

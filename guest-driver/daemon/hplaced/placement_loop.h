// PlacementLoop: one hplaced tick for the whole guest, over injected
// adapters so unit tests drive it with fakes (FakePageMoveSyscall,
// FakeHballoonDev, a fake SystemView, ReplaySource, FakeClock).
//
// Each Tick():
//   1. every maps_refresh_ms (and when samples name an unknown pid, and
//      in step 3 when memory in use grew by refresh_growth_mib): list
//      processes (deny-list, kernel threads, zombies and hplaced itself
//      skipped), read their placeable VMAs -> RangeTracker::SetVmas; exited
//      processes are removed; the scan targets go to the source.
//   2. drain the sample source into the tracker (bounded per tick), unless
//      the budget is in debt.
//   3. read the system view (free FMEM usable by migrations, the balloon's
//      pending growth from GET_INFO) -> placement::TickPlanner::Plan (the
//      per-tick policy, shared with tiervm-sim: locate, capacity, headroom,
//      classify, rate from the CPU allowance with a floor, exchange plan)
//      -> MovePagesExecutor -> TickPlanner::Learn (migration cost, ENOMEM
//      headroom).
//   4. every epoch_ticks ticks: RangeTracker::EndEpoch (merge/split/decay);
//      with a scanning source (accessed bits) not before a pass over every
//      target has completed since the last epoch, so that an epoch has
//      seen each page once.
//   5. BudgetController::Update(samples, pages scanned, other CPU, CPU of
//      floor-rate migration) -> source rates and the next allowance.
//   6. every telemetry_interval_ms: SUBMIT_STATS (see BuildTelemetry).
//
// The CPU budget bounds detection and the migration it pays for; it never
// makes the daemon inert (budget_controller.h).  Sampling is held to its
// share by the controller's closed loop; everything else is paid from the
// bucket.  The first tick is start-up and is not charged.  Placement runs
// every tick: the allowance buys moves at the learnt migration cost, and
// whenever something hotter sits on SMEM the planner moves at least at its
// floor rate, whose CPU beyond the allowance is counted (cpu_floor_move_ns)
// but not charged.  In debt (bounded) sampling pauses; a paused tick that
// planned nothing has its debt forgiven.
//
// Owns: the tracker, budget controller, counters and last status.  Borrows
// everything in LoopDeps (must outlive the loop).  One thread.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_HPLACED_PLACEMENT_LOOP_H_
#define TIERVM_GUEST_DRIVER_DAEMON_HPLACED_PLACEMENT_LOOP_H_

#include <linux/virtio_hballoon.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "daemon/adapters/hballoon_dev.h"
#include "daemon/adapters/hballoon_locator.h"
#include "daemon/adapters/move_pages.h"
#include "daemon/hplaced/config.h"
#include "daemon/hplaced/numa_balancing.h"
#include "daemon/hplaced/system_view.h"
#include "placement/bounce_counter.h"
#include "placement/budget_controller.h"
#include "placement/classifier.h"
#include "placement/page_locator.h"
#include "placement/clock.h"
#include "placement/range_tracker.h"
#include "placement/tick_planner.h"
#include "placement/sample_source.h"

namespace tiervm::hplaced {

struct LoopDeps {
  SystemView* system = nullptr;               // required
  placement::SampleSource* source = nullptr;  // null: no sampling
  SourceControl* source_control = nullptr;    // null: source has no knobs
  // A source error is fatal (Tick returns it) unless this is set; then the
  // loop logs it and goes on without sampling ("auto").
  bool source_optional = false;
  adapters::PageMoveSyscall* syscall = nullptr;  // required: locate + move
  adapters::HballoonDev* hballoon = nullptr;  // null: no telemetry/balloon view
  const placement::Clock* clock = nullptr;    // required
};

// Cumulative since start unless noted.  Pages are pages as moved: a 4 KiB
// base page or a 2 MiB THP counts one.
struct LoopCounters {
  uint64_t ticks = 0;
  uint64_t epochs = 0;
  uint64_t samples = 0;
  uint64_t samples_unmapped = 0;  // outside tracked ranges or unknown pid
  uint64_t samples_baseline = 0;  // dropped: first pass over a new process
  uint64_t maps_refreshes = 0;
  uint64_t maps_refreshes_growth = 0;  // of those: memory in use grew
  uint64_t maps_reads = 0;     // /proc/PID/maps read (new or changed process)
  uint64_t maps_unchanged = 0;  // skipped: vsize and start time as before
  uint64_t promoted_pages = 0;  // applied moves to the FMEM node
  // Promoted 4 KiB pages demoted again within 10 s (BounceCounter), and
  // their share of promoted_pages.
  uint64_t bounced_pages = 0;
  double bounced_share = 0;
  uint64_t demoted_pages = 0;   // applied moves to the SMEM node
  uint64_t planned_moves = 0;
  uint64_t applied_moves = 0;
  uint64_t busy = 0, gone = 0, no_mem = 0, skipped = 0, other_failed = 0;
  uint64_t move_syscalls = 0;
  std::string locator;          // "hballoon" or "move_pages" (in use)
  // kernel.numa_balancing at start (-1: unreadable) and whether hplaced
  // turned it off (NoteNumaBalancing; numa_balancing.h).
  int64_t numa_balancing_before = -1;
  bool numa_balancing_turned_off = false;
  uint64_t locate_pages = 0;    // 4 KiB pages walked by hballoon's LOCATE
  uint64_t telemetry_sent = 0;
  uint64_t telemetry_failed = 0;
  uint64_t errors = 0;  // non-fatal errors (a process's maps, meminfo, ...)
  uint64_t unreadable_processes = 0;  // maps not readable (EACCES), cumulative
  // Own CPU time by stage, cumulative (Clock::OwnCpuNs deltas).
  int64_t cpu_refresh_ns = 0;  // process list + maps
  int64_t cpu_sample_ns = 0;   // source reads (A-bit scan ioctls) + ingest
  int64_t cpu_locate_ns = 0;   // snapshot, locate, classify, plan
  int64_t cpu_move_ns = 0;     // move_pages (migration work)
  int64_t cpu_other_ns = 0;    // epoch, budget, telemetry
  int64_t cpu_telemetry_ns = 0;  // of cpu_other_ns: SUBMIT_STATS and what it reads
  uint64_t budget_skipped_ticks = 0;  // step 3 skipped: bucket empty
  uint64_t sampling_skipped_ticks = 0;  // no read: the sampling duty cycle
  uint64_t budget_limited_ticks = 0;  // moves cut to what the allowance buys
  uint64_t budget_paused_ticks = 0;   // no sampling: in debt
  // Reads the sampling floor forced (max_sampling_gap_ticks without one,
  // whatever the debt or the duty cycle), and scan reads the pass floor
  // (max_scan_pass_s) enlarged.
  uint64_t sampling_floor_reads = 0;
  uint64_t scan_floor_reads = 0;
  uint64_t floor_ticks = 0;           // the floor rate lifted the moves
  // Promotions the exchange gain gate refused (min_exchange_gain), bytes
  // summed over ticks (the same pages count again each tick they wait).
  uint64_t gain_skipped_bytes = 0;
  // Promoted pages the planner will not demote yet (promote_hold_epochs).
  uint64_t held_bytes = 0;
  int64_t cpu_floor_move_ns = 0;      // migration at the floor, not charged
  int64_t cpu_status_ns = 0;          // writing the status file (NoteStatusCpu)
  int64_t cpu_startup_ns = 0;         // the first tick, before the budget's window
  int64_t debt_forgiven_ns = 0;       // debt dropped after idle ticks
  double move_cost_ns_per_mib = 0;    // learnt migration cost (EWMA)
  double rate_mib_per_s = 0;          // latest tick's migration rate
  std::string last_error;
  // Latest tick (not cumulative).
  size_t processes = 0;
  size_t ranges = 0;
  uint64_t fmem_free_bytes = 0;     // usable by migrations (zoneinfo), else MemFree
  uint64_t fmem_memfree_bytes = 0;  // the node's MemFree
  uint64_t balloon_pending_bytes = 0;  // FMEM balloon target - actual
  uint64_t fmem_capacity_bytes = 0;    // what placement may fill
  uint64_t headroom_bytes = 0;         // in force (config + ENOMEM extra)
  uint64_t hot_bytes = 0;
  uint64_t tracked_fmem_bytes = 0;
  uint64_t tracked_smem_bytes = 0;
  double smem_share = 0;  // estimated share of sampled accesses on SMEM
  placement::BudgetReport budget;
};

// Telemetry records of one SUBMIT_STATS message (pure): per node
// FREE_BYTES/TOTAL_BYTES, PSI some/full totals (VM-wide), hotness curve
// points (node field = point index, at most kMaxCurvePoints, at evenly
// spaced byte positions), SMEM_SHARE_PPM (when anything was sampled),
// PROMOTED/DEMOTED_PAGES, BUDGET_PPM (smoothed use / budget, ppm).
inline constexpr size_t kMaxCurvePoints = 16;
struct TelemetryInputs {
  std::vector<adapters::NodeMeminfo> nodes;
  bool has_psi = false;
  adapters::MemoryPressure psi;
  const placement::Classification* classes = nullptr;  // null: no curve
  uint64_t promoted_pages = 0, demoted_pages = 0;
  double smem_share = -1;  // < 0: unknown (no samples)
  double budget_use_fraction = 0;  // smoothed / budget
};
std::vector<virtio_hballoon_stat> BuildTelemetry(const TelemetryInputs& in);

class PlacementLoop {
 public:
  // CHECK-fails on a config that does not Validate() or missing deps.
  PlacementLoop(const HplacedConfig& config, LoopDeps deps, Pid self_pid);

  // One tick.  Only errors that make going on pointless are returned
  // (a broken sample source, a fatal move_pages error such as a bad node);
  // everything else is counted in counters().errors and logged.
  absl::Status Tick();

  const LoopCounters& counters() const { return counters_; }
  // CPU the caller spent writing the status file: fixed overhead, reported
  // with the rest of it.
  void NoteStatusCpu(int64_t ns) { counters_.cpu_status_ns += ns; }
  // Records what main's NumaBalancingGuard found and did, for StatusJson.
  void NoteNumaBalancing(const NumaBalancingState& s) {
    counters_.numa_balancing_before = s.before.value_or(-1);
    counters_.numa_balancing_turned_off = s.turned_off;
  }
  const placement::RangeTracker& tracker() const { return tracker_; }
  // The counters as one JSON object (the status file's content).
  std::string StatusJson() const;

 private:
  void RefreshProcesses(int64_t now_ns);
  void RefreshProcessesInner(int64_t now_ns);
  absl::Status ReadSamples(uint64_t* read);
  // `allowance_ns`: CPU this call may spend (locate, plan, move) before
  // the planner's floor rate takes over.  *planned_work: moves planned.
  absl::Status PlanAndMove(int64_t now_ns, int64_t interval_ns, int64_t allowance_ns,
                           bool* planned_work);
  // Lists the processes again when the memory processes hold has grown by
  // refresh_growth_mib since the last listing: FMEM's AnonPages (from
  // `fmem`, read anyway) plus what is in use on the other nodes (all free
  // memory, sysinfo, minus FMEM's).
  void RefreshOnMemoryGrowth(const adapters::NodeMeminfo& fmem, int64_t now_ns);
  void SendTelemetry();
  // Settles config_.locator ("auto") on the first tick: hballoon when the
  // module answers HBALLOON_IOC_LOCATE, else move_pages.  An error only
  // when "hballoon" was asked for and cannot be had.
  absl::Status ChooseLocator();
  // True when `pid` exited or is exiting (maps gone or empty).
  bool ProcessGone(Pid pid);
  void Error(const absl::Status& s);

  HplacedConfig config_;
  LoopDeps deps_;
  Pid self_pid_;
  placement::RangeTracker tracker_;
  LoopCounters counters_;
  placement::BudgetController budget_;
  // Own CPU at the last budget update, and spent sampling since.
  int64_t window_cpu0_ns_ = 0;
  int64_t window_sampling_cpu_ns_ = 0;
  int64_t window_exempt_cpu_ns_ = 0;  // floor-rate migration this window
  // Ticks left without a sample read (the duty cycle, see Tick()), and
  // ticks in a row without one so far (the floor: max_sampling_gap_ticks).
  int64_t sampling_skip_ticks_ = 0;
  int64_t ticks_without_read_ = 0;
  int64_t ticks_since_epoch_ = 0;  // ticks since the tracker's last EndEpoch
  uint64_t epoch_passes_ = 0;      // the scanning source's passes at that epoch
  absl::flat_hash_set<Pid> tracked_;
  // What the last listing knew, so the next one reads less: kernel
  // threads' pids (their stat is not read again) and, per process, the
  // stat fields that say whether its maps may have changed.
  struct KnownProcess {
    uint64_t start_time_ticks = 0;
    uint64_t vsize_bytes = 0;
    std::vector<Vma> vmas;  // placeable, as given to the tracker
  };
  absl::flat_hash_set<Pid> known_kthreads_;
  absl::flat_hash_map<Pid, KnownProcess> known_processes_;
  int64_t last_full_refresh_ns_ = 0;
  // New processes whose samples are dropped until the source's pass
  // counter reaches this (see RefreshProcesses).
  absl::flat_hash_map<Pid, uint64_t> baseline_until_pass_;
  std::vector<placement::Sample> buffer_;
  bool started_ = false;
  int64_t start_ns_ = 0;
  int64_t cpu_start_ns_ = 0;
  int64_t last_tick_ns_ = 0;
  int64_t last_maps_ns_ = 0;
  // That measure at the last listing, lowered when it shrinks
  // (RefreshOnMemoryGrowth); unset until read after one.  Signed: it is a
  // difference of counters read at different instants.
  std::optional<int64_t> in_use_baseline_bytes_;
  int64_t last_telemetry_ns_ = 0;
  uint64_t window_samples_ = 0;
  bool have_classes_ = false;
  placement::TickPlanner planner_;  // the per-tick policy (pure)
  bool locator_chosen_ = false;
  std::unique_ptr<adapters::HballoonPageLocator> hb_locator_;  // null: move_pages
  placement::Classification last_classes_;
  placement::BounceCounter bounce_;  // promotions demoted again soon after
};

}  // namespace tiervm::hplaced

#endif  // TIERVM_GUEST_DRIVER_DAEMON_HPLACED_PLACEMENT_LOOP_H_

// hplaced configuration: every knob of the daemon, its defaults, and the
// TOML file reader.  The file is optional; every key has a default that
// works on a guest with node 0 FMEM and node 1 SMEM.  hplaced.toml in this
// directory lists every key with its meaning (README.md too).
//
// Errors name the place: "<file>:<line>:<column>: <key>: <reason>" for a
// bad value, an unknown key or a wrong type, "<file>:<line>:<column>:
// <parser message>" for TOML syntax.  Pure apart from LoadConfigFile
// (which reads the file); reentrant.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_HPLACED_CONFIG_H_
#define TIERVM_GUEST_DRIVER_DAEMON_HPLACED_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "placement/budget_controller.h"
#include "placement/range_tracker.h"

namespace tiervm::hplaced {

struct HplacedConfig {
  // [daemon]
  int64_t tick_ms = 1000;             // one tick: read samples, plan, move
  int64_t epoch_ticks = 1;            // ticks per tracker epoch (decay)
  int64_t maps_refresh_ms = 5000;     // re-read the process list and maps
  int64_t telemetry_interval_ms = 2000;  // SUBMIT_STATS period (0: never)
  std::string source = "auto";        // pebs | abit | replay | auto | none
  std::string trace_file;             // for source = replay
  std::string status_file;            // counters JSON, rewritten every tick
  std::string hballoon_device = "/dev/hballoon";
  std::string log_level = "info";     // trace debug info warn error off
  std::vector<std::string> deny_comms = {"hplaced"};
  // kernel.numa_balancing while hplaced runs: "off" turns it off and puts
  // the old value back at exit, "keep" leaves it (numa_balancing.h: why).
  std::string numa_balancing = "off";
  size_t max_samples_per_tick = 1 << 20;
  // [nodes]
  int fmem_node = 0;
  int smem_node = 1;
  // [placement]
  uint64_t headroom_bytes = 16ull << 20;  // FMEM kept free (MiB in the file)
  double rate_limit_mib_per_s = 256;
  uint64_t round_bytes = 64ull << 20;
  double thp_max_unevenness = 4.0;
  bool place_file_backed = false;
  bool place_shared = false;
  size_t max_batch_pages = 1024;
  // Migration CPU cost assumed until the first moves measure it (then an
  // EWMA of measured cost per applied MiB): sizes a tick's moves to its
  // CPU allowance.  Pessimistic on purpose (a TCG guest's figure; real
  // hardware is ~10x cheaper): a first guess too low overspends the budget
  // until the executor's per-batch check stops it.
  double initial_move_cost_us_per_mib = 4000;
  // Page lookups (move_pages queries) are the daemon's largest cost.  A
  // range's residency is queried page by page up to locate_exact_pages,
  // estimated from locate_sample_pages pages beyond, and re-queried every
  // locate_refresh_ticks ticks or after pages of it moved.  Planning walks
  // at most locate_window_pages of one range per tick (a rotating window).
  // Ranges whose sampled weight per MiB is below this are treated as
  // unsampled (never hot, demoted first).  In accessed-bit units one scan
  // pass that finds a whole MiB young adds 256, so a range touched once
  // falls below 4 after six epochs (decay 0.5) while a range in use stays
  // far above.  Without it, data touched once (at start-up) would fill
  // every free FMEM byte and cost migrations.  0 disables.
  double min_hot_weight_per_mib = 4.0;
  // Where pages are: "hballoon" asks hballoon.ko (HBALLOON_IOC_LOCATE: one
  // PTE read per page, one PMD per THP, THPs reported whole); "move_pages"
  // asks move_pages(2) in query mode (a page reference per 4 KiB page,
  // THPs seen as 512 base pages); "auto" is hballoon when the module has the
  // ioctl, else move_pages.  locate_exact_pages and locate_sample_pages
  // apply to move_pages only (hballoon is always exact).
  std::string locator = "auto";
  size_t locate_exact_pages = 1024;
  size_t locate_sample_pages = 256;
  int64_t locate_refresh_ticks = 10;
  uint64_t locate_window_pages = 4096;
  // ... and at most this many pages over all ranges per tick (0: no
  // bound).  A bound starves promotions when demotion candidates use it
  // up first (the planner's order), so it is off by default.
  uint64_t locate_tick_pages = 0;
  // When move_pages reports ENOMEM on FMEM (free memory was not where
  // MemFree said: per-CPU lists, watermarks, a THP needing a free 2 MiB
  // block), the headroom grows by this much per such tick, up to
  // headroom_bytes + enomem_max_extra_bytes, and shrinks by a quarter of
  // the step per tick without ENOMEM.  MiB in the file.
  uint64_t enomem_step_bytes = 16ull << 20;
  uint64_t enomem_max_extra_bytes = 64ull << 20;
  // [tracker]
  placement::RangeTrackerConfig tracker;
  // [budget]
  placement::BudgetConfig budget;

  absl::Status Validate() const;
};

// Parses TOML text; `file_name` goes into error messages.  Unknown keys
// are errors (a typo must not silently leave a default in place).
absl::StatusOr<HplacedConfig> ParseConfig(absl::string_view text, absl::string_view file_name);

// Reads and parses a file (bounded to 1 MiB).
absl::StatusOr<HplacedConfig> LoadConfigFile(const std::string& path);

}  // namespace tiervm::hplaced

#endif  // TIERVM_GUEST_DRIVER_DAEMON_HPLACED_CONFIG_H_

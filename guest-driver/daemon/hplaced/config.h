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
#include "daemon/hplaced/numa_balancing.h"
#include "placement/budget_controller.h"
#include "placement/range_tracker.h"
#include "placement/tick_planner.h"

namespace tiervm::hplaced {

// placement.locate_idle_refresh_ticks when left at 0 ("auto") and the
// source is the accessed-bit scanner (main.cc; tick_planner.h: why only
// there).
inline constexpr int64_t kAbitLocateIdleRefreshTicks = 60;

struct HplacedConfig {
  // [daemon]
  int64_t tick_ms = 1000;             // one tick: read samples, plan, move
  int64_t epoch_ticks = 1;            // ticks per tracker epoch (decay)
  // List the processes this often; a process's maps are read again only
  // when its /proc/PID/stat vsize or start time moved, and everything
  // (every pid's stat, every process's maps) every full_refresh_ms.
  int64_t maps_refresh_ms = 5000;
  int64_t full_refresh_ms = 60000;
  // ... and as soon as the memory processes hold has grown by this much
  // since the last listing (0: off): the FMEM node's AnonPages plus what
  // is in use on the other nodes.  A process that maps new memory is
  // otherwise unknown for up to maps_refresh_ms: its pages can be neither
  // promoted nor demoted, and the cold data a workload writes before it
  // starts (filling FMEM) holds up every exchange until then.  Off by
  // default: areas known before a scan pass has covered them weigh 0, and
  // the planner takes weight 0 for cold, so it demoted data written a
  // moment ago to promote data with only history weight (the residency
  // test's region 2, written at start-up and idle, went up in phase 1 in
  // three 6.1 runs of five; migrations per promotion 1.95-2.002 against
  // the test's 2.0).  Turn it on once an unscanned area is "unknown", not
  // "cold", to the planner.
  int64_t refresh_growth_mib = 0;
  int64_t telemetry_interval_ms = 2000;  // SUBMIT_STATS period (0: never)
  // The status file is rewritten this often (0: every tick) and at exit.
  int64_t status_interval_ms = 5000;
  std::string source = "auto";        // pebs | abit | replay | auto | none
  std::string trace_file;             // for source = replay
  std::string status_file;            // counters JSON (status_interval_ms)
  std::string hballoon_device = "/dev/hballoon";
  std::string log_level = "info";     // trace debug info warn error off
  std::vector<std::string> deny_comms = {"hplaced"};
  // kernel.numa_balancing while hplaced runs: "off" turns it off and puts
  // the old value back at exit, "keep" leaves it (numa_balancing.h: why).
  std::string numa_balancing = "off";
  // The sysctl file, and where the value from before is kept while it is
  // off, for a restart or `--restore-numa-balancing` after a SIGKILL.  The
  // state file must stay in /run/hplaced under the unit (its only writable
  // directory); tests point both at temp files.
  std::string numa_balancing_sysctl = kNumaBalancingSysctl;
  std::string numa_balancing_state_file = kNumaBalancingStateFile;
  size_t max_samples_per_tick = 1 << 20;
  // The sampling floor ([budget] keys): whatever the budget's debt or the
  // duty cycle say, at most max_sampling_gap_ticks ticks in a row go
  // without a sample read, and the accessed-bit scan covers every targeted
  // page at least once per max_scan_pass_s (0: no pass floor).  Without it
  // a slow or loaded machine (one scan read costing 10x its share) detects
  // a new hot set only after tens of seconds.  A new process is seen after
  // two passes (history) and its hot set within a third: 5 s keeps that
  // under 20 s where the budget has driven the scan rate to its floor.
  int64_t max_sampling_gap_ticks = 3;
  double max_scan_pass_s = 5;
  // [nodes] (fmem, smem) and [placement]: the per-tick policy's knobs,
  // documented in placement/tick_planner.h and hplaced.toml, live in the
  // library's config (one set of defaults for hplaced and tiervm-sim).
  placement::TickPlannerConfig planner;
  // [placement], the daemon's own part.
  bool place_file_backed = false;
  bool place_shared = false;
  size_t max_batch_pages = 1024;
  // Where pages are: "hballoon" asks hballoon.ko (HBALLOON_IOC_LOCATE: one
  // PTE read per page, one PMD per THP, THPs reported whole); "move_pages"
  // asks move_pages(2) in query mode (a page reference per 4 KiB page,
  // THPs seen as 512 base pages); "auto" is hballoon when the module has the
  // ioctl, else move_pages.  move_pages queries a range page by page up to
  // locate_exact_pages and estimates it from locate_sample_pages pages
  // beyond (hballoon is always exact).
  std::string locator = "auto";
  size_t locate_exact_pages = 1024;
  size_t locate_sample_pages = 256;
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

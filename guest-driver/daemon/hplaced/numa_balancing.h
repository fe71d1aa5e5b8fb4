// hplaced and the kernel's automatic NUMA balancing (kernel.numa_balancing).
//
// NUMA balancing migrates a page towards the node of the CPU that touches
// it, which undoes hplaced's tiering, and its PROT_NONE hinting entries
// make move_pages(2) fail on Debian's 6.1 guest kernel: a present page
// behind one reads "not present" (ENOENT).  Measured in the TCG rig with
// exchange_bench and the scanner started at once: 41,984 of 65,536 moves
// failed on 6.1.0-56 with numa_balancing = 1, none with 0, none on 6.12
// (README.md, "NUMA balancing").  So by default hplaced turns it off while
// it runs.
//
// NumaBalancingGuard owns that change and the state file that outlives
// the process.  With mode "off" it reads the sysctl; if it is not 0 it
// first saves the value in the state file (write to a temporary, rename:
// a reader sees the old file or the whole new one, never half of it),
// then writes 0.  Restore() (or the destructor) puts the saved value back
// and removes the state file -- unless the sysctl no longer reads 0, i.e.
// somebody else chose a value meanwhile; that choice is kept.
//
// A SIGKILL skips Restore().  The state file is what survives it: a guard
// that finds one while the sysctl reads 0 takes the 0 for a killed
// hplaced's and the saved value for the original ("adopted"), so a restart
// never records 0 as the value from before; a sysctl that reads anything
// else was set by somebody since, and the stale file is dropped.
// RestoreLeftOver() is the same code for `hplaced --restore-numa-balancing`,
// which the unit runs as ExecStopPost=: the value comes back even when
// hplaced is not started again.  The state file lives under /run: it must
// not outlive the boot whose sysctl it describes.
//
// With mode "keep" the guard only reads the value (after putting back one
// a killed hplaced left off).  Every failure is logged and recorded, never
// fatal: hplaced still runs without the sysctl (a kernel built without
// NUMA balancing has no such file) and without the state file (then a
// SIGKILL leaves NUMA balancing off, as before it existed).  Not
// thread-safe; one per process.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_HPLACED_NUMA_BALANCING_H_
#define TIERVM_GUEST_DRIVER_DAEMON_HPLACED_NUMA_BALANCING_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace tiervm::hplaced {

inline constexpr char kNumaBalancingSysctl[] = "/proc/sys/kernel/numa_balancing";
// In the unit's RuntimeDirectory (hplaced.service.in); the default of
// daemon.numa_balancing_state_file.
inline constexpr char kNumaBalancingStateFile[] = "/run/hplaced/numa_balancing";

struct NumaBalancingState {
  // The value to come back at exit: the sysctl at start, or the state
  // file's when adopted; nullopt: unreadable.
  std::optional<int64_t> before;
  bool turned_off = false;  // this process (or a killed one: adopted) wrote 0, not yet restored
  bool adopted = false;     // the 0 found at start was a killed hplaced's (state file)
  std::string problem;      // last read/write error, "" if none
};

class NumaBalancingGuard {
 public:
  // `mode` is "off" or "keep" (HplacedConfig::numa_balancing, validated
  // there); `sysctl_path` is the sysctl file and `state_path` the state
  // file (daemon.numa_balancing_sysctl / _state_file; tests pass temp
  // files).  The state file's directory is created if missing.
  NumaBalancingGuard(const std::string& mode, std::string sysctl_path, std::string state_path);
  ~NumaBalancingGuard();
  NumaBalancingGuard(const NumaBalancingGuard&) = delete;
  NumaBalancingGuard& operator=(const NumaBalancingGuard&) = delete;

  // Puts the value from before back if this guard has it off and the
  // sysctl still reads 0, then removes the state file.  On a failure the
  // state file stays for the next try (ExecStopPost=, the next start).
  // Idempotent.
  absl::Status Restore();

  // `hplaced --restore-numa-balancing`: what a guard does at start with a
  // state file left by a killed hplaced, then Restore().  OK when there is
  // nothing to restore (no state file: hplaced exited cleanly or never
  // turned it off) and when somebody else's value is kept.
  static absl::Status RestoreLeftOver(std::string sysctl_path, std::string state_path);

  const NumaBalancingState& state() const { return state_; }

 private:
  enum class Mode { kOff, kKeep, kRestoreOnly };
  NumaBalancingGuard(Mode mode, std::string sysctl_path, std::string state_path);

  // The state file's value; nullopt if there is none or it is unusable (a
  // garbled one is removed).
  std::optional<int64_t> LoadSaved();
  absl::Status Save(int64_t value);
  void RemoveSaved();
  void Note(const absl::Status& s);

  std::string sysctl_path_;
  std::string state_path_;
  NumaBalancingState state_;
  absl::Status last_error_;  // for RestoreLeftOver
};

}  // namespace tiervm::hplaced

#endif  // TIERVM_GUEST_DRIVER_DAEMON_HPLACED_NUMA_BALANCING_H_

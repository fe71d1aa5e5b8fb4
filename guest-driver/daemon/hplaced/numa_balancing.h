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
// NumaBalancingGuard owns that change: with mode "off" it reads the
// sysctl, writes 0 if it was not 0, and Restore() (or the destructor) puts
// the old value back -- unless the file no longer reads 0, i.e. somebody
// else chose a value meanwhile; that choice is kept.  With mode "keep" it
// only reads the value.  Every failure is logged and recorded, never fatal:
// hplaced still runs without the sysctl (a kernel built without NUMA
// balancing has no such file).  Not thread-safe; one per process.
#ifndef TIERVM_GUEST_DRIVER_DAEMON_HPLACED_NUMA_BALANCING_H_
#define TIERVM_GUEST_DRIVER_DAEMON_HPLACED_NUMA_BALANCING_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace tiervm::hplaced {

inline constexpr char kNumaBalancingSysctl[] = "/proc/sys/kernel/numa_balancing";

struct NumaBalancingState {
  std::optional<int64_t> before;  // the value at start; nullopt: unreadable
  bool turned_off = false;        // this process wrote 0 and has not restored
  std::string problem;            // last read/write error, "" if none
};

class NumaBalancingGuard {
 public:
  // `mode` is "off" or "keep" (HplacedConfig::numa_balancing, validated
  // there); `path` is the sysctl file (tests pass a temp file).
  NumaBalancingGuard(const std::string& mode, std::string path);
  ~NumaBalancingGuard();
  NumaBalancingGuard(const NumaBalancingGuard&) = delete;
  NumaBalancingGuard& operator=(const NumaBalancingGuard&) = delete;

  // Puts the value from before back if this guard turned it off and the
  // file still reads 0.  Idempotent.
  absl::Status Restore();

  const NumaBalancingState& state() const { return state_; }

 private:
  std::string path_;
  NumaBalancingState state_;
};

}  // namespace tiervm::hplaced

#endif  // TIERVM_GUEST_DRIVER_DAEMON_HPLACED_NUMA_BALANCING_H_

// Host memory readings from procfs/sysfs, under an injectable root so that
// tests read fixture trees:
//   <root>/proc/pressure/memory                    memory PSI (host-wide)
//   <root>/sys/devices/system/node/nodeN/meminfo   per-node MemFree
//   <root>/sys/kernel/mm/ksm/{pages_sharing,...}   KSM counters
//
// KSM is reported host-wide: pages_sharing × page size is the memory KSM
// saves across the host.  The design makes only SMEM backends mergeable
// (memory-backend merge=on; FMEM backends are not), so on a TierVM host
// this is the SMEM dedup figure, but the kernel does not attribute it to
// backends, and this adapter does not pretend to.
//
// Pure readers, no state.  Thread-safe.
#ifndef TIERVM_HOST_AGENT_ADAPTERS_PROCFS_HOST_PROCFS_H_
#define TIERVM_HOST_AGENT_ADAPTERS_PROCFS_HOST_PROCFS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace tiervm::agent {

struct PsiLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;  // percent, as the kernel prints
  uint64_t total_us = 0;
};
struct MemoryPsi {
  PsiLine some;
  PsiLine full;
};

struct KsmStats {
  uint64_t pages_shared = 0;
  uint64_t pages_sharing = 0;
  uint64_t pages_unshared = 0;
  uint64_t full_scans = 0;
  bool running = false;     // run == 1
  uint64_t merged_bytes = 0;  // pages_sharing × page size
};

// Parses the text of /proc/pressure/memory.  InvalidArgument naming the
// line for malformed text.
absl::StatusOr<MemoryPsi> ParseMemoryPsi(absl::string_view text);
// Parses a node meminfo file ("Node 0 MemFree:  123 kB") for MemFree.
absl::StatusOr<uint64_t> ParseNodeMemFreeBytes(absl::string_view text);

class HostProcfs {
 public:
  // `root` is "/" in production.
  explicit HostProcfs(std::string root, uint64_t page_bytes = 4096)
      : root_(std::move(root)), page_bytes_(page_bytes) {}

  absl::StatusOr<MemoryPsi> ReadMemoryPsi() const;
  // Σ MemFree over `nodes`.  NotFound if a node does not exist.
  absl::StatusOr<uint64_t> ReadFreeBytes(const std::vector<int>& nodes) const;
  // NotFound when the kernel has no KSM (the directory is absent).
  absl::StatusOr<KsmStats> ReadKsm() const;

 private:
  std::string Path(absl::string_view rel) const;
  std::string root_;
  uint64_t page_bytes_;
};

// Reads a whole small file (≤ max_bytes).  NotFound / Internal with errno
// text; Internal when the file is longer.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          size_t max_bytes = size_t{1} << 20);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_ADAPTERS_PROCFS_HOST_PROCFS_H_

// Per-host-node resident memory of one process, from /proc/PID/numa_maps
// (proc(5), Documentation/filesystems/proc.rst).  The agent reads it for
// each VM's QEMU process to see the FMEM the guest really holds, whatever
// the balloon device says: the balloon is cooperative, and a guest that
// deflates or touches ballooned pages gets host memory back without the
// device's count moving.
//
// What is counted: every `N<node>=<pages>` field of every mapping, anon and
// file-backed alike (both occupy the node), times the line's
// `kernelpagesize_kB=` (huge pages count whole).  Pages swapped out are not
// resident and numa_maps does not list them.  Shared pages (a file mapped
// by several processes, KSM) are counted in full for each process: an
// upper bound, which is the safe side for a budget.
//
// Cost: the kernel walks the page tables of every mapping to print the
// file, so a read costs time proportional to the process's resident pages.
//
// Pure parser plus a reader behind an interface (tests use a fake).
// Thread-safety: the parser and ProcfsNumaMapsReader are stateless;
// concurrent calls are safe.
#ifndef TIERVM_HOST_AGENT_ADAPTERS_PROCFS_NUMA_MAPS_H_
#define TIERVM_HOST_AGENT_ADAPTERS_PROCFS_NUMA_MAPS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tiervm::agent {

// A QEMU process has a few hundred mappings (~150 bytes a line); 16 MiB is
// two orders of magnitude of headroom and still a bounded read.
inline constexpr size_t kMaxNumaMapsBytes = size_t{16} << 20;
// MAX_NUMNODES is at most 1 << 10 (CONFIG_NODES_SHIFT <= 10).
inline constexpr int kMaxNumaNode = 1023;

struct NumaResidency {
  std::map<int, uint64_t> node_bytes;  // host node -> resident bytes
  size_t lines = 0;                    // mappings parsed
  // Lines that could not be read (no page size, bad number, overflow) and
  // were left out of node_bytes; the first one's reason is kept.
  size_t skipped_lines = 0;
  std::string first_error;

  // Σ node_bytes over `nodes` (nodes absent from the map count 0).
  template <typename Nodes>
  uint64_t BytesOn(const Nodes& nodes) const {
    uint64_t sum = 0;
    for (int n : nodes) {
      if (auto it = node_bytes.find(n); it != node_bytes.end()) sum += it->second;
    }
    return sum;
  }
};

// Parses the text of /proc/PID/numa_maps.  A malformed line is skipped and
// counted; InvalidArgument when the text is longer than kMaxNumaMapsBytes
// or when no line at all could be read (that is not numa_maps).  Empty
// text (a process without mappings, e.g. a zombie) is an empty result.
absl::StatusOr<NumaResidency> ParseNumaMaps(absl::string_view text);

// Reads one process's numa_maps.  Thread-safety: implementations say.
class NumaMapsReader {
 public:
  virtual ~NumaMapsReader() = default;
  // NotFound when the process is gone; Internal / InvalidArgument as
  // ParseNumaMaps and ReadSmallFile.
  virtual absl::StatusOr<NumaResidency> Read(int pid) = 0;
};

// `<root>/proc/<pid>/numa_maps`; `root` is "/" in production.  Stateless.
class ProcfsNumaMapsReader final : public NumaMapsReader {
 public:
  explicit ProcfsNumaMapsReader(std::string root) : root_(std::move(root)) {}
  absl::StatusOr<NumaResidency> Read(int pid) override;

 private:
  std::string root_;
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_ADAPTERS_PROCFS_NUMA_MAPS_H_

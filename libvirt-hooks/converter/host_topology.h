// The host's NUMA nodes as sysfs describes them: which exist, their
// MemTotal and, when the firmware provides HMAT, their access performance
// from the local initiators (nodeN/access0/initiators/{read,write}_{latency,
// bandwidth}; latency in ns, bandwidth in MiB/s per the kernel's numaperf
// documentation).  Reading is an adapter (file I/O under an injectable
// sysfs root); the value type and the checks are pure.  Thread-compatible.
#ifndef TIERVM_LIBVIRT_HOOKS_CONVERTER_HOST_TOPOLOGY_H_
#define TIERVM_LIBVIRT_HOOKS_CONVERTER_HOST_TOPOLOGY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "converter/metadata.h"

namespace tiervm::libvirt {

struct HostNode {
  uint64_t mem_total_bytes = 0;
  // HMAT access0 (nearest initiator) figures; nullopt when absent.
  std::optional<uint32_t> read_latency_ns, write_latency_ns;
  std::optional<uint32_t> read_bandwidth_mibps, write_bandwidth_mibps;
};

struct HostTopology {
  std::map<int, HostNode> nodes;  // by host node id
};

// Reads <sysfs_root>/devices/system/node/node*/.  A root without a node
// directory (no NUMA support) gives an error; nodes whose meminfo cannot be
// read are reported as errors too (a half-read topology would let a bad
// config through).
absl::StatusOr<HostTopology> ReadHostTopology(const std::string& sysfs_root);

// Parses a node's meminfo ("Node 0 MemTotal:  24563020 kB").
absl::StatusOr<uint64_t> ParseNodeMemTotal(const std::string& meminfo);

// The config against the host: every named host node exists; each tier's
// size fits the MemTotal of its nodes (both tiers together where they share
// nodes, and the whole VM in the host's total when a tier is unbound).
// Messages name the metadata element.
absl::Status CheckConfigAgainstHost(const TieringConfig& config,
                                    const HostTopology& host);

// Access performance the converter writes into the guest's HMAT.
struct TierPerformance {
  uint32_t latency_ns = 0;
  uint32_t bandwidth_mibps = 0;
  bool from_host = false;  // false: documented defaults
};
// Defaults when the host has no HMAT for a tier's nodes (README.md):
// FMEM ~ local DDR, SMEM ~ CXL-attached / far memory.
inline constexpr TierPerformance kDefaultFmemPerf{80, 20480, false};
inline constexpr TierPerformance kDefaultSmemPerf{240, 8192, false};

// The performance of a set of host nodes: the worst (highest latency,
// lowest bandwidth) over the nodes and read/write, when every node has
// HMAT figures; otherwise `fallback`.
TierPerformance PerformanceOf(const HostTopology* host,
                              const std::vector<int>& nodes,
                              TierPerformance fallback);

}  // namespace tiervm::libvirt

#endif  // TIERVM_LIBVIRT_HOOKS_CONVERTER_HOST_TOPOLOGY_H_

// Value types shared by every part of the placement library.
//
// Everything here is a plain value: no ownership, no locking, freely
// copyable.  Units are in the names (`_bytes`, `_ns`, `_pct`); addresses are
// guest-virtual addresses of the process named by `pid`.
#ifndef TIERVM_GUEST_DRIVER_PLACEMENT_TYPES_H_
#define TIERVM_GUEST_DRIVER_PLACEMENT_TYPES_H_

#include <cstdint>

namespace tiervm::placement {

using Pid = int32_t;
using Vaddr = uint64_t;

inline constexpr uint64_t kBasePageBytes = 4096;
inline constexpr uint64_t kHugePageBytes = 2ull << 20;  // x86-64 PMD THP
// Exclusive upper bound of user addresses (x86-64 with 5-level paging).
inline constexpr uint64_t kUserVaddrLimit = 1ull << 57;

enum class AccessKind : uint8_t { kLoad = 0, kStore = 1 };

// One sampled memory access.  `weight` is how many accesses the sample
// stands for (1 for an unweighted source, the sample period for a source
// that wants absolute counts); the tracker adds weights, so only ratios
// matter to placement decisions.
struct Sample {
  Pid pid = 0;
  Vaddr vaddr = 0;
  AccessKind kind = AccessKind::kLoad;
  uint32_t weight = 1;
  int64_t time_ns = 0;  // monotonic, source-defined epoch

  friend bool operator==(const Sample&, const Sample&) = default;
};

// The two memory tiers the guest sees as NUMA nodes.
enum class Tier : uint8_t { kFmem = 0, kSmem = 1 };

// One virtual memory area [start, end) of a process, page aligned, as the
// caller read it from /proc/PID/maps (only the areas it wants placed).
struct Vma {
  Vaddr start = 0;
  Vaddr end = 0;
  friend bool operator==(const Vma&, const Vma&) = default;
};

}  // namespace tiervm::placement

#endif  // TIERVM_GUEST_DRIVER_PLACEMENT_TYPES_H_

// Value types describing one VM as the agent sees it in one tick: operator
// configuration, the tier state read back from the device, and sanitized
// guest telemetry.  Plain structs, no behaviour; copyable; not synchronized.
//
// Units are in the names: `_bytes` are bytes of guest-physical memory,
// `_ppm` are parts per million (1'000'000 == 100 %).
#ifndef TIERVM_HOST_AGENT_CORE_VM_MODEL_H_
#define TIERVM_HOST_AGENT_CORE_VM_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tiervm::agent {

// Stable name of a VM: the libvirt domain UUID or the QMP socket's name.
using VmId = std::string;

inline constexpr uint64_t kKiB = uint64_t{1} << 10;
inline constexpr uint64_t kMiB = uint64_t{1} << 20;
inline constexpr uint64_t kGiB = uint64_t{1} << 30;
inline constexpr uint32_t kPpmOne = 1'000'000;

// Weights are small integers so that Σ weight × ppm never overflows and a
// typo in a config file cannot make one VM infinitely important.
inline constexpr uint32_t kMaxVmWeight = 1000;

// Operator configuration of one VM (config file or libvirt metadata).
struct VmConfig {
  // FMEM the VM is guaranteed / may never exceed.  Both are hard bounds
  // that every policy respects; min <= max.
  uint64_t min_fmem_bytes = 0;
  uint64_t max_fmem_bytes = 0;
  // Relative importance in the utility objective, 1..kMaxVmWeight.
  uint32_t weight = 1;
  // Senpai-style guard targets: while the guest reports memory PSI "some"
  // above psi_some_target_ppm, or a share of accesses served by SMEM above
  // smem_share_target_ppm, the agent does not take FMEM away from it.
  uint32_t psi_some_target_ppm = 10'000;     // 1 % of wall time stalled
  uint32_t smem_share_target_ppm = 200'000;  // 20 % of accesses from SMEM
};

// What the device reports for the VM's tiers (read back over QMP).
struct VmTierState {
  // FMEM the host asked the guest to have (device target) and the FMEM the
  // guest really has plugged in (target minus balloon size).
  uint64_t fmem_target_bytes = 0;
  uint64_t fmem_actual_bytes = 0;
  uint64_t smem_bytes = 0;
  // Not the device's: the memory the host measured resident on its FMEM
  // node(s) for the VM's QEMU process (numa_maps).  The balloon is
  // cooperative, so a guest that deflates or touches ballooned pages holds
  // more than fmem_actual_bytes; this is what it really holds.  Absent when
  // not measured (no QEMU pid, unreadable numa_maps).
  std::optional<uint64_t> fmem_resident_bytes;
};

// One point of a hotness curve: the hottest `bytes` of guest memory receive
// `share_ppm` of the sampled accesses.
struct HotnessPoint {
  uint64_t bytes = 0;
  uint32_t share_ppm = 0;

  friend bool operator==(const HotnessPoint&, const HotnessPoint&) = default;
};

// Guest telemetry after TelemetrySanitizer accepted it.  Invariants (the
// sanitizer guarantees them, the policies rely on them):
//   hotness: at most TelemetrySanitizer::kMaxHotnessPoints points, bytes
//   strictly increasing and > 0, share_ppm non-decreasing and <= kPpmOne;
//   every *_ppm <= kPpmOne; psi_full_ppm <= psi_some_ppm.
struct Telemetry {
  std::vector<HotnessPoint> hotness;
  uint32_t smem_access_share_ppm = 0;
  // Share of wall time over the guest's last PSI window (avg10-like).
  uint32_t psi_some_ppm = 0;
  uint32_t psi_full_ppm = 0;
  // When the host accepted the report (host clock, not the guest's).
  absl::Time received = absl::InfinitePast();
};

// Host memory pressure signal written to the device's pressure_level
// config field.  Values equal VIRTIO_HBALLOON_PRESSURE_* (asserted in the
// unit tests, which see the uapi header; the core does not).
enum class PressureLevel : uint8_t { kNone = 0, kLow = 1, kHigh = 2 };

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_VM_MODEL_H_

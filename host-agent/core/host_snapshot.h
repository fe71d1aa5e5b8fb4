// HostSnapshot: the immutable view of the host that one agent tick works
// on (the oomd OomdContext idiom).  The daemon fills a Builder from QMP,
// libvirt, /sys and the telemetry store; Build() validates it once, and
// from then on policies, the actuation planner and the actuator read only
// the snapshot, never the system.
//
// Owns: copies of every VM's config, tier state and latest telemetry.
// Thread-safety: immutable after Build(); safe to share across threads.
#ifndef TIERVM_HOST_AGENT_CORE_HOST_SNAPSHOT_H_
#define TIERVM_HOST_AGENT_CORE_HOST_SNAPSHOT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/vm_model.h"

namespace tiervm::agent {

// One VM in a snapshot.
struct VmView {
  VmId id;
  VmConfig config;
  VmTierState state;
  // Latest accepted telemetry, if any.
  std::optional<Telemetry> telemetry;
  // True when telemetry exists and is younger than the snapshot's
  // telemetry_max_age.  Policies ignore stale telemetry (neutral prior).
  bool telemetry_fresh = false;
};

// FMEM the VM holds for the budget: the device's actual, or the measured
// residency when that is higher (the guest took memory the balloon was
// holding).  A measurement below the actual does not lower the charge:
// pages not touched yet are still the VM's to touch.
uint64_t HeldFmemBytes(const VmTierState& s);

// How far measured residency may exceed the target before the VM is
// flagged: QEMU's own allocations (code, heap, device buffers) land on the
// FMEM node too, and a balloon settles within pages, not bytes.
// max(64 MiB, 5 % of the target).
uint64_t FmemOverTargetToleranceBytes(uint64_t fmem_target_bytes);
// True when the VM's measured residency exceeds its target by more than
// the tolerance: the balloon is not holding what the agent asked for.
// While a shrink is in flight (`shrinking`: issued, not yet timed out) the
// guest may still hold its device's actual, so the bar is max(target,
// actual) then; a guest that never shrinks is flagged once the actuator
// gives up on the move.  Never true when residency was not measured.
bool FmemOverTarget(const VmTierState& s, bool shrinking = false);

class HostSnapshot {
 public:
  class Builder {
   public:
    // FMEM the agent may hand out to VMs in total, and FMEM the host
    // reports free right now (e.g. MemFree of the FMEM NUMA node).
    Builder& SetHost(uint64_t fmem_budget_bytes, uint64_t host_free_fmem_bytes,
                     absl::Time now);
    // Telemetry older than this is stale.  Default 30 s.
    Builder& SetTelemetryMaxAge(absl::Duration max_age);
    Builder& AddVm(VmId id, const VmConfig& config, const VmTierState& state,
                   std::optional<Telemetry> telemetry = std::nullopt);

    // Validates and freezes.  InvalidArgument for a malformed VM entry
    // (duplicate id, min > max, weight out of range); FailedPrecondition
    // when the VMs' guaranteed minimums do not fit in the budget.
    absl::StatusOr<HostSnapshot> Build() &&;

   private:
    std::vector<VmView> vms_;
    uint64_t fmem_budget_bytes_ = 0;
    uint64_t host_free_fmem_bytes_ = 0;
    absl::Time now_ = absl::InfinitePast();
    absl::Duration telemetry_max_age_ = absl::Seconds(30);
  };

  // VMs sorted by id; plans index VMs by their position here.
  absl::Span<const VmView> vms() const { return vms_; }
  size_t size() const { return vms_.size(); }
  const VmView& vm(size_t index) const { return vms_[index]; }
  std::optional<size_t> IndexOf(const VmId& id) const;

  uint64_t fmem_budget_bytes() const { return fmem_budget_bytes_; }
  uint64_t host_free_fmem_bytes() const { return host_free_fmem_bytes_; }
  absl::Time now() const { return now_; }

  // Σ fmem_target_bytes over all VMs (for status and invariant checks).
  uint64_t SumTargetBytes() const;

 private:
  HostSnapshot() = default;

  std::vector<VmView> vms_;
  absl::flat_hash_map<VmId, size_t> index_;
  uint64_t fmem_budget_bytes_ = 0;
  uint64_t host_free_fmem_bytes_ = 0;
  absl::Time now_;
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_HOST_SNAPSHOT_H_

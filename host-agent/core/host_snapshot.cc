#include "core/host_snapshot.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace tiervm::agent {

HostSnapshot::Builder& HostSnapshot::Builder::SetHost(
    uint64_t fmem_budget_bytes, uint64_t host_free_fmem_bytes, absl::Time now) {
  fmem_budget_bytes_ = fmem_budget_bytes;
  host_free_fmem_bytes_ = host_free_fmem_bytes;
  now_ = now;
  return *this;
}

HostSnapshot::Builder& HostSnapshot::Builder::SetTelemetryMaxAge(
    absl::Duration max_age) {
  telemetry_max_age_ = max_age;
  return *this;
}

HostSnapshot::Builder& HostSnapshot::Builder::AddVm(
    VmId id, const VmConfig& config, const VmTierState& state,
    std::optional<Telemetry> telemetry) {
  VmView view;
  view.id = std::move(id);
  view.config = config;
  view.state = state;
  view.telemetry = std::move(telemetry);
  vms_.push_back(std::move(view));
  return *this;
}

absl::StatusOr<HostSnapshot> HostSnapshot::Builder::Build() && {
  if (now_ == absl::InfinitePast()) {
    return absl::InvalidArgumentError("snapshot: SetHost() was not called");
  }
  HostSnapshot snap;
  snap.fmem_budget_bytes_ = fmem_budget_bytes_;
  snap.host_free_fmem_bytes_ = host_free_fmem_bytes_;
  snap.now_ = now_;
  snap.vms_ = std::move(vms_);
  std::sort(snap.vms_.begin(), snap.vms_.end(),
            [](const VmView& a, const VmView& b) { return a.id < b.id; });

  uint64_t sum_min_bytes = 0;
  snap.index_.reserve(snap.vms_.size());
  for (size_t i = 0; i < snap.vms_.size(); ++i) {
    VmView& vm = snap.vms_[i];
    const VmConfig& c = vm.config;
    if (vm.id.empty()) {
      return absl::InvalidArgumentError("snapshot: VM with empty id");
    }
    if (!snap.index_.emplace(vm.id, i).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("snapshot: duplicate VM id '%s'", vm.id));
    }
    if (c.min_fmem_bytes > c.max_fmem_bytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "snapshot: VM '%s': min_fmem_bytes %d > max_fmem_bytes %d", vm.id,
          c.min_fmem_bytes, c.max_fmem_bytes));
    }
    if (c.weight == 0 || c.weight > kMaxVmWeight) {
      return absl::InvalidArgumentError(
          absl::StrFormat("snapshot: VM '%s': weight %d outside [1, %d]", vm.id,
                          c.weight, kMaxVmWeight));
    }
    if (c.psi_some_target_ppm > kPpmOne || c.smem_share_target_ppm > kPpmOne) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "snapshot: VM '%s': guard target above %d ppm", vm.id, kPpmOne));
    }
    sum_min_bytes += c.min_fmem_bytes;
    vm.telemetry_fresh = vm.telemetry.has_value() &&
                         vm.telemetry->received <= now_ &&
                         now_ - vm.telemetry->received <= telemetry_max_age_;
  }
  if (sum_min_bytes > fmem_budget_bytes_) {
    // An operator error, not a transient state: no allocation can honour
    // every guarantee, so refuse to plan rather than break one silently.
    return absl::FailedPreconditionError(absl::StrFormat(
        "snapshot: Σ min_fmem_bytes %d exceeds the FMEM budget %d",
        sum_min_bytes, fmem_budget_bytes_));
  }
  return snap;
}

uint64_t HeldFmemBytes(const VmTierState& s) {
  return std::max(s.fmem_actual_bytes, s.fmem_resident_bytes.value_or(0));
}

uint64_t FmemOverTargetToleranceBytes(uint64_t fmem_target_bytes) {
  return std::max<uint64_t>(64 * kMiB, fmem_target_bytes / 20);
}

bool FmemOverTarget(const VmTierState& s, bool shrinking) {
  if (!s.fmem_resident_bytes) return false;
  const uint64_t allowed =
      shrinking ? std::max(s.fmem_target_bytes, s.fmem_actual_bytes) : s.fmem_target_bytes;
  return *s.fmem_resident_bytes > allowed + FmemOverTargetToleranceBytes(allowed);
}

std::optional<size_t> HostSnapshot::IndexOf(const VmId& id) const {
  auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

uint64_t HostSnapshot::SumTargetBytes() const {
  uint64_t sum = 0;
  for (const VmView& vm : vms_) sum += vm.state.fmem_target_bytes;
  return sum;
}

}  // namespace tiervm::agent

#include "core/telemetry_sanitizer.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace tiervm::agent {
namespace {

absl::Status CheckPpm(const char* what, int64_t v) {
  if (v < 0 || v > kPpmOne) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s %d outside [0, %d]", what, v, kPpmOne));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Telemetry> SanitizeTelemetry(const RawTelemetry& raw,
                                            uint64_t guest_memory_bytes,
                                            absl::Time now) {
  if (raw.hotness.size() > kMaxHotnessPoints) {
    return absl::InvalidArgumentError(
        absl::StrFormat("hotness curve has %d points, at most %d allowed",
                        raw.hotness.size(), kMaxHotnessPoints));
  }
  if (absl::Status s =
          CheckPpm("smem_access_share_ppm", raw.smem_access_share_ppm);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckPpm("psi_some_ppm", raw.psi_some_ppm); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckPpm("psi_full_ppm", raw.psi_full_ppm); !s.ok()) {
    return s;
  }
  if (raw.psi_full_ppm > raw.psi_some_ppm) {
    // "full" stall time is a subset of "some" stall time by definition.
    return absl::InvalidArgumentError(
        absl::StrFormat("psi_full_ppm %d > psi_some_ppm %d", raw.psi_full_ppm,
                        raw.psi_some_ppm));
  }

  Telemetry t;
  t.smem_access_share_ppm = static_cast<uint32_t>(raw.smem_access_share_ppm);
  t.psi_some_ppm = static_cast<uint32_t>(raw.psi_some_ppm);
  t.psi_full_ppm = static_cast<uint32_t>(raw.psi_full_ppm);
  t.received = now;
  t.hotness.reserve(raw.hotness.size());

  int64_t prev_bytes = 0;
  int64_t prev_share = 0;
  for (size_t i = 0; i < raw.hotness.size(); ++i) {
    const RawTelemetry::Point& p = raw.hotness[i];
    if (p.bytes <= prev_bytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "hotness point %d: bytes %d not above the previous point's %d", i,
          p.bytes, prev_bytes));
    }
    if (absl::Status s = CheckPpm("hotness share_ppm", p.share_ppm); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("hotness point %d: %s", i, s.message()));
    }
    if (p.share_ppm < prev_share) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "hotness point %d: share_ppm %d below the previous point's %d", i,
          p.share_ppm, prev_share));
    }
    prev_bytes = p.bytes;
    prev_share = p.share_ppm;
    // A guest cannot have more hot memory than memory.  Clamp rather than
    // reject: guest and host may briefly disagree on the size around a
    // resize.  Clamped points collapse; keep the highest share.
    const uint64_t bytes =
        std::min(static_cast<uint64_t>(p.bytes), guest_memory_bytes);
    if (bytes == 0) break;
    const uint32_t share = static_cast<uint32_t>(p.share_ppm);
    if (!t.hotness.empty() && t.hotness.back().bytes == bytes) {
      t.hotness.back().share_ppm = share;
    } else {
      t.hotness.push_back({bytes, share});
    }
  }
  return t;
}

absl::Status TelemetryStore::Submit(const VmId& id, const RawTelemetry& raw,
                                    uint64_t guest_memory_bytes,
                                    absl::Time now) {
  Entry& e = vms_[id];
  if (e.last_report != absl::InfinitePast() &&
      now - e.last_report < config_.min_interval) {
    ++e.counters.rate_limited;
    e.counters.last_error = absl::ResourceExhaustedError(
        absl::StrFormat("VM '%s': telemetry rate-limited (one report per %s)",
                        id, absl::FormatDuration(config_.min_interval)));
    return e.counters.last_error;
  }
  e.last_report = now;
  absl::StatusOr<Telemetry> t = SanitizeTelemetry(raw, guest_memory_bytes, now);
  if (!t.ok()) {
    ++e.counters.rejected;
    e.counters.last_error = absl::InvalidArgumentError(absl::StrFormat(
        "VM '%s': telemetry rejected: %s", id, t.status().message()));
    return e.counters.last_error;
  }
  ++e.counters.accepted;
  e.counters.last_error = absl::OkStatus();
  e.telemetry = *std::move(t);
  e.has_telemetry = true;
  return absl::OkStatus();
}

const Telemetry* TelemetryStore::Latest(const VmId& id) const {
  auto it = vms_.find(id);
  if (it == vms_.end() || !it->second.has_telemetry) return nullptr;
  return &it->second.telemetry;
}

const TelemetryStore::VmCounters* TelemetryStore::Counters(
    const VmId& id) const {
  auto it = vms_.find(id);
  return it == vms_.end() ? nullptr : &it->second.counters;
}

}  // namespace tiervm::agent

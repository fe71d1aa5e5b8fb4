// StatsDecoder: turns the device's latest guest stats (query-hballoon
// `stats`, a set of (tag, node, value) records, see virtio_hballoon.h) into
// a RawTelemetry for the core's sanitizer.  The records are untrusted;
// this layer only reshapes them and derives rates, the sanitizer and the
// TelemetryStore judge and rate-limit.
//
//   HOT_BYTES / HOT_SHARE_PPM   curve point i = the records with node == i,
//                               in index order.  A point missing either
//                               half, or indices with gaps, is malformed.
//   SMEM_SHARE_PPM              the VM-wide record (node 0xffff).
//   PSI_SOME_US / PSI_FULL_US   cumulative stall microseconds (VM-wide).
//                               ppm = Δstall_us / Δt_us, with Δt from the
//                               device's `last-update-ms` (the host's own
//                               clock when QEMU took the message), so the
//                               guest cannot stretch time.  The first
//                               report of a VM has no PSI (0); a counter
//                               going backwards means the guest restarted:
//                               the delta restarts from the new value (PSI
//                               0 for that report), nothing is rejected for
//                               good.  Jitter between the guest's and the
//                               host's clocks can make an honest rate
//                               slightly exceed 100 %: up to
//                               kPsiJitterPpm above it is clamped to
//                               1'000'000, beyond that the value is passed
//                               on for the sanitizer to reject.
//                               "full" stall is part of "some" stall, but
//                               the guest kernel sums the two separately
//                               and rounds each, so an honest full rate can
//                               top the some rate by a hair (seen: 385 vs
//                               384 ppm, which the sanitizer rejected along
//                               with the rest of the report).  Up to
//                               kPsiFullExcessPpm above it, full is clamped
//                               to some; beyond, it is passed on to be
//                               rejected.
//   everything else             ignored (free/total bytes, counters).
//
// A report is "new" when `last-update-ms` or `seq` changed since the last
// call; an unchanged one yields nullopt so a guest that stopped reporting
// goes stale instead of being refreshed by the host's polling.
//
// Owns: the previous PSI counters and report identity of one VM.
// Thread-safety: not synchronized; one per VM in the agent loop.
#ifndef TIERVM_HOST_AGENT_ADAPTERS_STATS_STATS_DECODER_H_
#define TIERVM_HOST_AGENT_ADAPTERS_STATS_STATS_DECODER_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "adapters/qmp/hballoon_qmp.h"
#include "core/telemetry_sanitizer.h"

namespace tiervm::agent {

// Tags of virtio_hballoon.h (the core does not see the uapi header; the
// unit test asserts these equal VIRTIO_HBALLOON_STAT_*).
inline constexpr uint16_t kStatPsiSomeUs = 2;
inline constexpr uint16_t kStatPsiFullUs = 3;
inline constexpr uint16_t kStatHotBytes = 4;
inline constexpr uint16_t kStatHotSharePpm = 5;
inline constexpr uint16_t kStatSmemSharePpm = 6;
inline constexpr uint16_t kStatNodeAny = 0xffff;
inline constexpr int64_t kPsiJitterPpm = 100'000;
inline constexpr int64_t kPsiFullExcessPpm = 1'000;

class StatsDecoder {
 public:
  // nullopt: nothing new since the previous call (or never any report).
  // InvalidArgument naming the record for a malformed curve (the report is
  // not passed on; PSI baselines still advance).
  absl::StatusOr<std::optional<RawTelemetry>> Decode(
      const qmp::HballoonStats& stats);

 private:
  bool have_report_ = false;
  uint32_t last_seq_ = 0;
  int64_t last_update_ms_ = 0;
  bool have_psi_ = false;
  uint64_t psi_some_us_ = 0;
  uint64_t psi_full_us_ = 0;
  int64_t psi_at_ms_ = 0;
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_ADAPTERS_STATS_STATS_DECODER_H_

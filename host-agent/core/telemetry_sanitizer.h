// Guest telemetry is untrusted.  Everything a guest reports passes through
// here before any policy sees it:
//   * SanitizeTelemetry() validates one report: malformed or absurd values
//     (negative, above 100 %, non-monotone curves, too many points, PSI
//     full > some) reject the whole report with a reason; curve points
//     beyond the guest's memory size are clamped to it.
//   * TelemetryStore keeps the latest accepted report per VM and rate-limits
//     reports per VM, so a guest cannot make the agent churn.
// A VM's telemetry only ever feeds that VM's own utility curve and guard,
// which the policies bound by the VM's min/max; shares are normalised to
// 100 %, so a lying guest cannot claim more than "all my accesses".
#ifndef TIERVM_HOST_AGENT_CORE_TELEMETRY_SANITIZER_H_
#define TIERVM_HOST_AGENT_CORE_TELEMETRY_SANITIZER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/vm_model.h"

namespace tiervm::agent {

// A report as decoded from the wire (le64 values reinterpreted as signed,
// so a guest writing 2^64-1 shows up as -1).  Fields the guest did not send
// are 0.
struct RawTelemetry {
  struct Point {
    int64_t bytes = 0;
    int64_t share_ppm = 0;
  };
  std::vector<Point> hotness;
  int64_t smem_access_share_ppm = 0;
  int64_t psi_some_ppm = 0;
  int64_t psi_full_ppm = 0;
};

// More points than this is not a curve but an attempt to cost us CPU.
inline constexpr size_t kMaxHotnessPoints = 64;

// Validates `raw` for a guest of `guest_memory_bytes` (FMEM + SMEM).  On
// success the result satisfies the Telemetry invariants and has
// received == now.  InvalidArgument with a reason otherwise.
absl::StatusOr<Telemetry> SanitizeTelemetry(const RawTelemetry& raw,
                                            uint64_t guest_memory_bytes,
                                            absl::Time now);

struct TelemetryStoreConfig {
  // Reports arriving sooner than this after the previous report of the same
  // VM (accepted or not) are dropped.  Counting rejected reports too keeps a
  // flood of garbage as cheap as a flood of valid reports.
  absl::Duration min_interval = absl::Seconds(1);
};

// Latest accepted telemetry per VM, plus per-VM counters.
// Owns: one Telemetry and a few counters per VM it has heard from.
// Thread-safety: not synchronized; the daemon calls it from its loop.
class TelemetryStore {
 public:
  struct VmCounters {
    uint64_t accepted = 0;
    uint64_t rejected = 0;
    uint64_t rate_limited = 0;
    absl::Status last_error;  // OK if the last report was accepted
  };

  explicit TelemetryStore(TelemetryStoreConfig config = {}) : config_(config) {}

  // OK if accepted.  ResourceExhausted if rate-limited, InvalidArgument
  // with the sanitizer's reason if rejected; the previous telemetry is kept
  // either way.
  absl::Status Submit(const VmId& id, const RawTelemetry& raw,
                      uint64_t guest_memory_bytes, absl::Time now);

  // Latest accepted telemetry, or nullptr.
  const Telemetry* Latest(const VmId& id) const;
  const VmCounters* Counters(const VmId& id) const;
  // Drops a VM that went away.
  void Forget(const VmId& id) { vms_.erase(id); }

 private:
  struct Entry {
    bool has_telemetry = false;
    Telemetry telemetry;
    absl::Time last_report = absl::InfinitePast();
    VmCounters counters;
  };

  TelemetryStoreConfig config_;
  absl::flat_hash_map<VmId, Entry> vms_;
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_CORE_TELEMETRY_SANITIZER_H_

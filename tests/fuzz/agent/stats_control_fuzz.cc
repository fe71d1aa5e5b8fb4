// Fuzz target for the agent's two untrusted text/record inputs besides
// QMP framing:
//   * first byte even: guest stats records.  The rest is a series of
//     reports: [u8 n][u32 ms-delta] then n records (u16 tag, u16 node,
//     u64 value), decoded by one StatsDecoder (as for one VM over time)
//     and submitted to a TelemetryStore.  Asserts: a decode error has a
//     message; a decoded curve has at most kMaxHotnessPoints points; PSI
//     rates are never negative; accepted telemetry meets the Telemetry
//     invariants.
//   * first byte odd: the rest is one control-socket request line for
//     ParseControlRequest.  Asserts: an error has a message; an accepted
//     request has a valid VM name (for set/vm-event), a weight in range,
//     min <= max.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "adapters/stats/stats_decoder.h"
#include "core/telemetry_sanitizer.h"
#include "daemon/control_protocol.h"

namespace {

using namespace tiervm::agent;  // NOLINT: fuzz target

#define FUZZ_ASSERT(cond) \
  do {                    \
    if (!(cond)) __builtin_trap(); \
  } while (0)

template <typename T>
bool Take(const uint8_t*& p, size_t& left, T* out) {
  if (left < sizeof(T)) return false;
  std::memcpy(out, p, sizeof(T));
  p += sizeof(T);
  left -= sizeof(T);
  return true;
}

void FuzzStats(const uint8_t* p, size_t left) {
  StatsDecoder decoder;
  TelemetryStore store;
  int64_t ms = 1'700'000'000'000;
  uint32_t seq = 0;
  for (int report = 0; report < 64 && left > 0; ++report) {
    uint8_t n = 0;
    uint32_t delta = 0;
    if (!Take(p, left, &n) || !Take(p, left, &delta)) return;
    qmp::HballoonStats stats;
    // Mostly advancing time; sometimes repeated or going backwards.
    ms += static_cast<int32_t>(delta) % 100'000;
    stats.last_update_ms = ms;
    stats.seq = ++seq;
    for (int i = 0; i < n; ++i) {
      qmp::HballoonStatRecord r;
      if (!Take(p, left, &r.tag) || !Take(p, left, &r.node) || !Take(p, left, &r.value)) break;
      stats.records.push_back(r);
    }
    absl::StatusOr<std::optional<RawTelemetry>> raw = decoder.Decode(stats);
    if (!raw.ok()) {
      FUZZ_ASSERT(!raw.status().message().empty());
      continue;
    }
    if (!raw->has_value()) continue;
    const RawTelemetry& t = **raw;
    FUZZ_ASSERT(t.hotness.size() <= kMaxHotnessPoints);
    FUZZ_ASSERT(t.psi_some_ppm >= 0 && t.psi_full_ppm >= 0);
    const absl::Time now = absl::FromUnixMillis(ms) + absl::Seconds(report * 2);
    absl::Status s = store.Submit("vm", t, 8ull << 30, now);
    if (!s.ok()) {
      FUZZ_ASSERT(!s.message().empty());
      continue;
    }
    const Telemetry* acc = store.Latest("vm");
    FUZZ_ASSERT(acc != nullptr);
    FUZZ_ASSERT(acc->psi_full_ppm <= acc->psi_some_ppm);
    FUZZ_ASSERT(acc->psi_some_ppm <= kPpmOne && acc->smem_access_share_ppm <= kPpmOne);
    for (size_t i = 0; i < acc->hotness.size(); ++i) {
      FUZZ_ASSERT(acc->hotness[i].bytes > 0 && acc->hotness[i].bytes <= (8ull << 30));
      FUZZ_ASSERT(acc->hotness[i].share_ppm <= kPpmOne);
      if (i > 0) FUZZ_ASSERT(acc->hotness[i].bytes > acc->hotness[i - 1].bytes);
    }
  }
}

void FuzzControl(const uint8_t* p, size_t left) {
  const std::string_view line(reinterpret_cast<const char*>(p), left);
  absl::StatusOr<ControlRequest> r = ParseControlRequest(line);
  if (!r.ok()) {
    FUZZ_ASSERT(!r.status().message().empty());
    FUZZ_ASSERT(!ControlError(std::string(r.status().message())).empty());
    return;
  }
  if (r->kind != ControlRequest::Kind::kStatus) FUZZ_ASSERT(IsValidVmName(r->vm));
  if (r->settings.weight) {
    FUZZ_ASSERT(*r->settings.weight >= 1 && *r->settings.weight <= kMaxVmWeight);
  }
  if (r->settings.min_fmem_bytes && r->settings.max_fmem_bytes) {
    FUZZ_ASSERT(*r->settings.min_fmem_bytes <= *r->settings.max_fmem_bytes);
  }
  if (!r->qmp_socket.empty()) FUZZ_ASSERT(r->qmp_socket[0] == '/');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    FuzzStats(data + 1, size - 1);
  } else {
    FuzzControl(data + 1, size - 1);
  }
  return 0;
}

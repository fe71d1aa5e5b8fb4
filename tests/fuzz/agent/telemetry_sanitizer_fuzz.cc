// Fuzz target for the telemetry path: arbitrary bytes are decoded the way
// the adapter decodes a stats message (le64 fields), sanitized, and, when
// accepted, fed to every built-in policy next to an honest VM.  Asserts:
// no crash or UB; accepted telemetry meets the Telemetry invariants; the
// reporting VM's plan stays within its own min/max and the honest VM keeps
// at least its min; Σ desired <= budget.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/host_snapshot.h"
#include "core/policy.h"
#include "core/policy_registry.h"
#include "core/telemetry_sanitizer.h"

namespace {

using namespace tiervm::agent;  // NOLINT: fuzz target, one function

#define FUZZ_ASSERT(cond) \
  do {                    \
    if (!(cond)) {        \
      __builtin_trap();   \
    }                     \
  } while (0)

int64_t TakeI64(const uint8_t*& p, size_t& left) {
  uint64_t v = 0;
  const size_t n = left < 8 ? left : 8;
  if (n == 0) return 0;  // memcpy from a null empty buffer is UB
  std::memcpy(&v, p, n);
  p += n;
  left -= n;
  return static_cast<int64_t>(v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* p = data;
  size_t left = size;
  RawTelemetry raw;
  raw.smem_access_share_ppm = TakeI64(p, left);
  raw.psi_some_ppm = TakeI64(p, left);
  raw.psi_full_ppm = TakeI64(p, left);
  const uint64_t guest_bytes = static_cast<uint64_t>(TakeI64(p, left)) >> 20;
  while (left > 0) {
    RawTelemetry::Point pt;
    pt.bytes = TakeI64(p, left);
    pt.share_ppm = TakeI64(p, left);
    raw.hotness.push_back(pt);
  }

  const absl::Time now = absl::FromUnixSeconds(1'000'000);
  absl::StatusOr<Telemetry> t = SanitizeTelemetry(raw, guest_bytes, now);
  if (!t.ok()) {
    FUZZ_ASSERT(!t.status().message().empty());
    return 0;
  }
  FUZZ_ASSERT(t->hotness.size() <= kMaxHotnessPoints);
  FUZZ_ASSERT(t->psi_full_ppm <= t->psi_some_ppm);
  FUZZ_ASSERT(t->psi_some_ppm <= kPpmOne &&
              t->smem_access_share_ppm <= kPpmOne);
  for (size_t i = 0; i < t->hotness.size(); ++i) {
    FUZZ_ASSERT(t->hotness[i].bytes > 0 && t->hotness[i].bytes <= guest_bytes);
    FUZZ_ASSERT(t->hotness[i].share_ppm <= kPpmOne);
    if (i > 0) {
      FUZZ_ASSERT(t->hotness[i].bytes > t->hotness[i - 1].bytes);
      FUZZ_ASSERT(t->hotness[i].share_ppm >= t->hotness[i - 1].share_ppm);
    }
  }

  VmConfig reporter;
  reporter.min_fmem_bytes = 1 * kGiB;
  reporter.max_fmem_bytes = 4 * kGiB;
  VmConfig honest = reporter;
  honest.max_fmem_bytes = 8 * kGiB;
  Telemetry honest_t;
  honest_t.received = now;
  honest_t.hotness = {{2 * kGiB, 700'000}, {8 * kGiB, kPpmOne}};
  HostSnapshot::Builder b;
  b.SetHost(8 * kGiB, 2 * kGiB, now)
      .AddVm("honest", honest, {4 * kGiB, 4 * kGiB, 0}, honest_t)
      .AddVm("reporter", reporter, {2 * kGiB, 2 * kGiB, 0}, *t);
  absl::StatusOr<HostSnapshot> snap = std::move(b).Build();
  FUZZ_ASSERT(snap.ok());
  for (const char* name : {"utility", "proportional", "static"}) {
    auto policy = PolicyRegistry::Global().Create(name, PolicyArgs{});
    FUZZ_ASSERT(policy.ok());
    const FmemPlan plan = (*policy)->Decide(*snap);
    FUZZ_ASSERT(ValidatePlan(*snap, plan).ok());
    FUZZ_ASSERT(plan.vms[0].desired_fmem_bytes >= honest.min_fmem_bytes);
    FUZZ_ASSERT(plan.vms[1].desired_fmem_bytes <= reporter.max_fmem_bytes);
  }
  return 0;
}

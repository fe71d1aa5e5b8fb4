#include "core/host_snapshot.h"

#include "agent_test_util.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using testing::Config;
using testing::State;

const absl::Time kNow = absl::FromUnixSeconds(1'000'000);

TEST(HostSnapshot, SortsVmsAndIndexesThem) {
  HostSnapshot::Builder b;
  b.SetHost(8 * kGiB, 2 * kGiB, kNow)
      .AddVm("zeta", Config(0, kGiB), State(kGiB, kGiB))
      .AddVm("alpha", Config(0, kGiB), State(0, 0));
  absl::StatusOr<HostSnapshot> s = std::move(b).Build();
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ(s->vm(0).id, "alpha");
  EXPECT_EQ(s->IndexOf("zeta"), 1u);
  EXPECT_EQ(s->IndexOf("nope"), std::nullopt);
  EXPECT_EQ(s->SumTargetBytes(), kGiB);
  EXPECT_EQ(s->fmem_budget_bytes(), 8 * kGiB);
  EXPECT_EQ(s->host_free_fmem_bytes(), 2 * kGiB);
  EXPECT_EQ(s->now(), kNow);
}

TEST(HostSnapshot, RejectsMalformedVms) {
  auto build = [](const VmConfig& c, const char* second_id = "b") {
    HostSnapshot::Builder b;
    b.SetHost(8 * kGiB, 0, kNow).AddVm("a", Config(0, kGiB), State(0, 0));
    b.AddVm(second_id, c, State(0, 0));
    return std::move(b).Build().status();
  };
  EXPECT_TRUE(build(Config(0, kGiB)).ok());
  EXPECT_EQ(build(Config(0, kGiB), "a").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(build(Config(0, kGiB), "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(build(Config(2 * kGiB, kGiB)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(build(Config(0, kGiB, 0)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(build(Config(0, kGiB, kMaxVmWeight + 1)).code(),
            absl::StatusCode::kInvalidArgument);
  VmConfig c = Config(0, kGiB);
  c.psi_some_target_ppm = kPpmOne + 1;
  EXPECT_EQ(build(c).code(), absl::StatusCode::kInvalidArgument);
}

TEST(HostSnapshot, MinimumsAboveBudgetIsAFailedPrecondition) {
  HostSnapshot::Builder b;
  b.SetHost(3 * kGiB, 0, kNow)
      .AddVm("a", Config(2 * kGiB, 4 * kGiB), State(2 * kGiB, 2 * kGiB))
      .AddVm("b", Config(2 * kGiB, 4 * kGiB), State(2 * kGiB, 2 * kGiB));
  EXPECT_EQ(std::move(b).Build().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(HostSnapshot, RequiresHost) {
  HostSnapshot::Builder b;
  EXPECT_EQ(std::move(b).Build().status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HostSnapshot, TelemetryFreshness) {
  Telemetry fresh;
  fresh.received = kNow - absl::Seconds(5);
  Telemetry stale;
  stale.received = kNow - absl::Seconds(60);
  Telemetry future;  // from a clock that jumped back: not trusted
  future.received = kNow + absl::Seconds(5);
  HostSnapshot::Builder b;
  b.SetHost(8 * kGiB, 0, kNow)
      .SetTelemetryMaxAge(absl::Seconds(30))
      .AddVm("a", Config(0, kGiB), State(0, 0), fresh)
      .AddVm("b", Config(0, kGiB), State(0, 0), stale)
      .AddVm("c", Config(0, kGiB), State(0, 0), future)
      .AddVm("d", Config(0, kGiB), State(0, 0));
  absl::StatusOr<HostSnapshot> s = std::move(b).Build();
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->vm(0).telemetry_fresh);
  EXPECT_FALSE(s->vm(1).telemetry_fresh);
  EXPECT_FALSE(s->vm(2).telemetry_fresh);
  EXPECT_FALSE(s->vm(3).telemetry_fresh);
}

TEST(FmemResidency, HeldIsTheHigherOfActualAndMeasured) {
  VmTierState s = State(4 * kGiB, 3 * kGiB);
  EXPECT_EQ(HeldFmemBytes(s), 3 * kGiB);  // unmeasured: the device's count
  s.fmem_resident_bytes = 5 * kGiB;
  EXPECT_EQ(HeldFmemBytes(s), 5 * kGiB);
  s.fmem_resident_bytes = 1 * kGiB;
  EXPECT_EQ(HeldFmemBytes(s), 3 * kGiB);
}

TEST(FmemResidency, OverTargetBeyondTheTolerance) {
  EXPECT_EQ(FmemOverTargetToleranceBytes(0), 64 * kMiB);
  EXPECT_EQ(FmemOverTargetToleranceBytes(1 * kGiB), 64 * kMiB);
  EXPECT_EQ(FmemOverTargetToleranceBytes(20 * kGiB), 1 * kGiB);
  VmTierState s = State(1 * kGiB, 1 * kGiB);
  EXPECT_FALSE(FmemOverTarget(s));  // not measured: never flagged
  s.fmem_resident_bytes = 1 * kGiB + 64 * kMiB;
  EXPECT_FALSE(FmemOverTarget(s));
  s.fmem_resident_bytes = 1 * kGiB + 64 * kMiB + 1;
  EXPECT_TRUE(FmemOverTarget(s));
  s = State(20 * kGiB, 20 * kGiB);
  s.fmem_resident_bytes = 21 * kGiB;
  EXPECT_FALSE(FmemOverTarget(s));
  s.fmem_resident_bytes = 21 * kGiB + 1;
  EXPECT_TRUE(FmemOverTarget(s));
}

TEST(FmemResidency, AShrinkInFlightMayStillHoldItsActual) {
  VmTierState s = State(2 * kGiB, 6 * kGiB);
  s.fmem_resident_bytes = 6 * kGiB;
  EXPECT_TRUE(FmemOverTarget(s));  // idle (or stuck): over its target
  EXPECT_FALSE(FmemOverTarget(s, /*shrinking=*/true));
  s.fmem_resident_bytes = 7 * kGiB;  // more than even the device admits
  EXPECT_TRUE(FmemOverTarget(s, /*shrinking=*/true));
}

}  // namespace
}  // namespace tiervm::agent

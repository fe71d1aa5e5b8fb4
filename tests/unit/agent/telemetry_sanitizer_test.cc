#include "core/telemetry_sanitizer.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'000'000);
constexpr uint64_t kGuestBytes = 8 * kGiB;

RawTelemetry Valid() {
  RawTelemetry r;
  r.hotness = {{int64_t{1} << 30, 600'000}, {int64_t{4} << 30, 950'000}};
  r.smem_access_share_ppm = 50'000;
  r.psi_some_ppm = 2'000;
  r.psi_full_ppm = 500;
  return r;
}

void ExpectRejected(const RawTelemetry& r, const std::string& reason) {
  absl::StatusOr<Telemetry> t = SanitizeTelemetry(r, kGuestBytes, kNow);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr(reason));
}

TEST(SanitizeTelemetry, AcceptsAValidReport) {
  absl::StatusOr<Telemetry> t = SanitizeTelemetry(Valid(), kGuestBytes, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->hotness.size(), 2u);
  EXPECT_EQ(t->hotness[0], (HotnessPoint{1 * kGiB, 600'000}));
  EXPECT_EQ(t->psi_some_ppm, 2'000u);
  EXPECT_EQ(t->psi_full_ppm, 500u);
  EXPECT_EQ(t->smem_access_share_ppm, 50'000u);
  EXPECT_EQ(t->received, kNow);
}

TEST(SanitizeTelemetry, AcceptsAnEmptyReport) {
  EXPECT_TRUE(SanitizeTelemetry(RawTelemetry{}, kGuestBytes, kNow).ok());
}

TEST(SanitizeTelemetry, RejectsNonMonotoneBytes) {
  RawTelemetry r = Valid();
  r.hotness[1].bytes = r.hotness[0].bytes;
  ExpectRejected(r, "point 1: bytes");
}

TEST(SanitizeTelemetry, RejectsDecreasingShare) {
  RawTelemetry r = Valid();
  r.hotness[1].share_ppm = 100'000;
  ExpectRejected(r, "below the previous");
}

TEST(SanitizeTelemetry, RejectsWrappedAroundValues) {
  // A guest writing 0xffff... into a le64 field.
  RawTelemetry r = Valid();
  r.hotness[0].bytes = -1;
  ExpectRejected(r, "point 0: bytes -1");
  r = Valid();
  r.hotness[0].share_ppm = -1;
  ExpectRejected(r, "outside [0, 1000000]");
}

TEST(SanitizeTelemetry, RejectsShareAboveOneHundredPercent) {
  RawTelemetry r = Valid();
  r.hotness[1].share_ppm = 1'000'001;
  ExpectRejected(r, "point 1: hotness share_ppm 1000001");
}

TEST(SanitizeTelemetry, RejectsZeroBytePoint) {
  RawTelemetry r = Valid();
  r.hotness[0].bytes = 0;
  ExpectRejected(r, "point 0: bytes 0");
}

TEST(SanitizeTelemetry, RejectsTooManyPoints) {
  RawTelemetry r;
  for (size_t i = 0; i <= kMaxHotnessPoints; ++i) {
    r.hotness.push_back({static_cast<int64_t>((i + 1) * kMiB), 0});
  }
  ExpectRejected(r, "points, at most");
}

TEST(SanitizeTelemetry, RejectsAbsurdPsiAndSmemShare) {
  RawTelemetry r = Valid();
  r.psi_some_ppm = 2'000'000;
  ExpectRejected(r, "psi_some_ppm");
  r = Valid();
  r.psi_full_ppm = r.psi_some_ppm + 1;
  ExpectRejected(r, "psi_full_ppm 2001 > psi_some_ppm 2000");
  r = Valid();
  r.smem_access_share_ppm = -5;
  ExpectRejected(r, "smem_access_share_ppm");
}

TEST(SanitizeTelemetry, ClampsPointsBeyondGuestMemory) {
  RawTelemetry r;
  r.hotness = {{int64_t{1} << 30, 500'000},
               {int64_t{16} << 30, 800'000},
               {int64_t{32} << 30, 900'000}};
  absl::StatusOr<Telemetry> t = SanitizeTelemetry(r, kGuestBytes, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->hotness.size(), 2u);
  EXPECT_EQ(t->hotness[1], (HotnessPoint{kGuestBytes, 900'000}));
}

TEST(TelemetryStore, KeepsLatestAcceptedAndCountsOutcomes) {
  TelemetryStore store({.min_interval = absl::Seconds(1)});
  EXPECT_EQ(store.Latest("vm"), nullptr);
  ASSERT_TRUE(store.Submit("vm", Valid(), kGuestBytes, kNow).ok());
  ASSERT_NE(store.Latest("vm"), nullptr);
  EXPECT_EQ(store.Latest("vm")->psi_some_ppm, 2'000u);

  RawTelemetry bad = Valid();
  bad.psi_some_ppm = -1;
  absl::Status s =
      store.Submit("vm", bad, kGuestBytes, kNow + absl::Seconds(2));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("VM 'vm'"));
  // The previous report survives a rejected one.
  EXPECT_EQ(store.Latest("vm")->received, kNow);
  EXPECT_EQ(store.Counters("vm")->accepted, 1u);
  EXPECT_EQ(store.Counters("vm")->rejected, 1u);
  EXPECT_FALSE(store.Counters("vm")->last_error.ok());

  store.Forget("vm");
  EXPECT_EQ(store.Latest("vm"), nullptr);
  EXPECT_EQ(store.Counters("vm"), nullptr);
}

TEST(TelemetryStore, RateLimitsPerVm) {
  TelemetryStore store({.min_interval = absl::Seconds(5)});
  ASSERT_TRUE(store.Submit("a", Valid(), kGuestBytes, kNow).ok());
  RawTelemetry newer = Valid();
  newer.psi_some_ppm = 9'000;
  EXPECT_EQ(
      store.Submit("a", newer, kGuestBytes, kNow + absl::Seconds(1)).code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store.Latest("a")->psi_some_ppm, 2'000u);
  // Another VM is not affected.
  EXPECT_TRUE(store.Submit("b", Valid(), kGuestBytes, kNow).ok());
  // Garbage counts against the rate limit too.
  RawTelemetry bad;
  bad.psi_some_ppm = -1;
  EXPECT_FALSE(
      store.Submit("b", bad, kGuestBytes, kNow + absl::Seconds(6)).ok());
  EXPECT_EQ(
      store.Submit("b", Valid(), kGuestBytes, kNow + absl::Seconds(7)).code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(
      store.Submit("a", newer, kGuestBytes, kNow + absl::Seconds(5)).ok());
  EXPECT_EQ(store.Latest("a")->psi_some_ppm, 9'000u);
  EXPECT_EQ(store.Counters("a")->rate_limited, 1u);
}

}  // namespace
}  // namespace tiervm::agent

#include "core/pressure_monitor.h"

#include <linux/virtio_hballoon.h>

#include "agent_test_util.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using testing::Config;
using testing::State;

// The core writes these values into the device's pressure_level field.
static_assert(static_cast<int>(PressureLevel::kNone) ==
              VIRTIO_HBALLOON_PRESSURE_NONE);
static_assert(static_cast<int>(PressureLevel::kLow) ==
              VIRTIO_HBALLOON_PRESSURE_LOW);
static_assert(static_cast<int>(PressureLevel::kHigh) ==
              VIRTIO_HBALLOON_PRESSURE_HIGH);

const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

PressureConfig Cfg() {
  PressureConfig c;
  c.high_free_bytes = 512 * kMiB;
  c.initial_low_free_bytes = 2 * kGiB;
  c.min_low_free_bytes = 1 * kGiB;
  c.max_low_free_bytes = 3 * kGiB;
  c.adapt_step_bytes = 256 * kMiB;
  c.adapt_period = absl::Seconds(60);
  c.expected_high_ticks_per_period = 1;
  return c;
}

TEST(PressureMonitor, RejectsInconsistentThresholds) {
  PressureConfig c = Cfg();
  c.high_free_bytes = c.min_low_free_bytes;
  EXPECT_EQ(PressureMonitor::Create(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = Cfg();
  c.initial_low_free_bytes = c.max_low_free_bytes + 1;
  EXPECT_FALSE(PressureMonitor::Create(c).ok());
  c = Cfg();
  c.adapt_step_bytes = 0;
  EXPECT_FALSE(PressureMonitor::Create(c).ok());
  c = Cfg();
  c.adapt_period = absl::ZeroDuration();
  EXPECT_FALSE(PressureMonitor::Create(c).ok());
}

TEST(PressureMonitor, ClassifiesFreeFmem) {
  PressureMonitor m = *PressureMonitor::Create(Cfg());
  EXPECT_EQ(m.Observe(4 * kGiB, kT0), PressureLevel::kNone);
  EXPECT_EQ(m.Observe(2 * kGiB, kT0), PressureLevel::kNone);
  EXPECT_EQ(m.Observe(2 * kGiB - 1, kT0), PressureLevel::kLow);
  EXPECT_EQ(m.Observe(512 * kMiB, kT0), PressureLevel::kLow);
  EXPECT_EQ(m.Observe(512 * kMiB - 1, kT0), PressureLevel::kHigh);
  EXPECT_EQ(m.Observe(0, kT0), PressureLevel::kHigh);
}

TEST(PressureMonitor, FrequentHighRaisesTheLowThreshold) {
  PressureMonitor m = *PressureMonitor::Create(Cfg());
  absl::Time t = kT0;
  // Three high ticks per minute, one expected: warn earlier each period
  // until the ceiling.
  for (int period = 0; period < 10; ++period) {
    for (int i = 0; i < 3; ++i) {
      m.Observe(100 * kMiB, t);
      t += absl::Seconds(20);
    }
    if (period < 4) {
      EXPECT_EQ(m.low_free_bytes(), 2 * kGiB + period * 256 * kMiB)
          << "period " << period;
    }
  }
  EXPECT_EQ(m.low_free_bytes(), 3 * kGiB);
  // 2.9 GiB free is now "low" although it was "none" at the start.
  EXPECT_EQ(m.Observe(2900 * kMiB, t), PressureLevel::kLow);
}

TEST(PressureMonitor, RareHighLowersTheLowThreshold) {
  PressureMonitor m = *PressureMonitor::Create(Cfg());
  absl::Time t = kT0;
  for (int i = 0; i < 60; ++i) {  // 20 minutes, never high
    m.Observe(10 * kGiB, t);
    t += absl::Seconds(20);
  }
  EXPECT_EQ(m.low_free_bytes(), 1 * kGiB);
  EXPECT_EQ(m.Observe(1536 * kMiB, t), PressureLevel::kNone);
}

TEST(PressureMonitor, ExpectedRateKeepsTheThreshold) {
  PressureMonitor m = *PressureMonitor::Create(Cfg());
  absl::Time t = kT0;
  for (int i = 0; i < 30; ++i) {
    m.Observe(i % 3 == 0 ? 0 : 10 * kGiB, t);  // one high per minute
    t += absl::Seconds(20);
  }
  EXPECT_EQ(m.low_free_bytes(), 2 * kGiB);
}

TEST(PressureMonitor, LongGapDoesNotSpinThroughEmptyPeriods) {
  PressureMonitor m = *PressureMonitor::Create(Cfg());
  m.Observe(10 * kGiB, kT0);
  m.Observe(10 * kGiB, kT0 + absl::Hours(24 * 365));
  EXPECT_GE(m.low_free_bytes(), 1 * kGiB);
}

TEST(PressureMonitor, VmsAtTheirMinimumAreNotSignalled) {
  HostSnapshot::Builder b;
  b.SetHost(8 * kGiB, 0, kT0)
      .AddVm("at-min", Config(kGiB, 4 * kGiB), State(kGiB, kGiB))
      .AddVm("above", Config(kGiB, 4 * kGiB), State(2 * kGiB, 2 * kGiB));
  HostSnapshot s = *std::move(b).Build();
  // Snapshot order is by id: "above", then "at-min".
  EXPECT_EQ(
      PressureMonitor::PerVm(s, PressureLevel::kHigh),
      (std::vector<PressureLevel>{PressureLevel::kHigh, PressureLevel::kNone}));
}

}  // namespace
}  // namespace tiervm::agent

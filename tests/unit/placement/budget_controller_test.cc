#include "placement/budget_controller.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace tiervm::placement {
namespace {

constexpr int64_t kWindowNs = 1'000'000'000;

// A simulated guest: the workload raises `events_per_s` qualifying memory
// events; the sampler takes one sample per `period` events; the daemon
// spends a fixed cost plus `per_sample_ns` of its own CPU per sample, with
// +-`noise` relative jitter.  Returns the samples of one window.
struct CostModel {
  double events_per_s = 2e8;
  double fixed_cpu_pct = 0.05;
  double per_sample_ns = 150;
  double noise = 0.05;
  std::mt19937_64 rng{42};

  uint64_t Step(FakeClock& clock, uint64_t period) {
    std::uniform_real_distribution<double> jitter(1 - noise, 1 + noise);
    const double samples = events_per_s / static_cast<double>(period) * jitter(rng);
    const double cpu_ns = fixed_cpu_pct / 100 * kWindowNs + samples * per_sample_ns;
    clock.Advance(kWindowNs, static_cast<int64_t>(cpu_ns));
    return static_cast<uint64_t>(samples);
  }
};

TEST(BudgetControllerTest, ConvergesUnderTheBudget) {
  FakeClock clock;
  BudgetConfig config;  // 1% of a vCPU, aim at 85%
  BudgetController bc(config, &clock);
  CostModel model;
  bc.Update(0, 0);
  // At the default period of 4093 the model would use ~20% of a vCPU.
  BudgetReport r;
  for (int i = 0; i < 15; ++i) r = bc.Update(model.Step(clock, bc.sample_period()), 0);
  for (int i = 0; i < 100; ++i) {
    r = bc.Update(model.Step(clock, bc.sample_period()), 0);
    EXPECT_LE(r.used_pct, config.budget_pct * 1.06) << "window " << i;  // noise only
    EXPECT_GE(r.smoothed_pct, config.budget_pct * config.sampling_share * 0.7) << "window " << i;
    EXPECT_FALSE(r.over_budget);
  }
  // Sampling aims at its share of the budget; the rest is placement's.
  EXPECT_NEAR(r.smoothed_pct, config.budget_pct * config.target_fraction * config.sampling_share,
              0.05);
  EXPECT_EQ(r.sample_period % 2, 1u);
  EXPECT_GT(r.sampling_pct, r.own_cpu_pct);  // PEBS cost dominates here
}

TEST(BudgetControllerTest, FollowsAPhaseChange) {
  FakeClock clock;
  BudgetConfig config;
  BudgetController bc(config, &clock);
  CostModel model;
  bc.Update(0, 0);
  for (int i = 0; i < 20; ++i) bc.Update(model.Step(clock, bc.sample_period()), 0);
  const uint64_t calm_period = bc.sample_period();
  model.events_per_s *= 8;  // the workload turns memory-bound
  int over = 0;
  BudgetReport r;
  for (int i = 0; i < 30; ++i) {
    r = bc.Update(model.Step(clock, bc.sample_period()), 0);
    over += r.over_budget;
  }
  EXPECT_LE(over, 5);  // a few windows to react, then back under
  EXPECT_FALSE(r.over_budget);
  EXPECT_NEAR(static_cast<double>(bc.sample_period()) / calm_period, 8, 1.5);
}

TEST(BudgetControllerTest, IdleWorkloadGetsTheFinestPeriod) {
  FakeClock clock;
  BudgetConfig config;
  BudgetController bc(config, &clock);
  CostModel model;
  model.events_per_s = 1e5;
  bc.Update(0, 0);
  BudgetReport r;
  for (int i = 0; i < 30; ++i) r = bc.Update(model.Step(clock, bc.sample_period()), 0);
  EXPECT_EQ(r.sample_period, config.min_sample_period);
  // The scan rate follows the same intensity (period limits bound it).
  EXPECT_NEAR(r.scan_pages_per_s,
              config.initial_scan_pages_per_s * config.initial_sample_period /
                  config.min_sample_period,
              1);
  EXPECT_LT(r.used_pct, config.budget_pct);
}

TEST(BudgetControllerTest, FixedCostAboveBudgetSaturatesAndReports) {
  FakeClock clock;
  BudgetConfig config;
  BudgetController bc(config, &clock);
  CostModel model;
  model.fixed_cpu_pct = 3;  // the daemon alone exceeds 1%
  bc.Update(0, 0);
  BudgetReport r;
  for (int i = 0; i < 40; ++i) r = bc.Update(model.Step(clock, bc.sample_period()), 0);
  EXPECT_EQ(r.sample_period, config.max_sample_period | 1);
  EXPECT_EQ(r.scan_pages_per_s, config.min_scan_pages_per_s);
  EXPECT_TRUE(r.over_budget);  // the bucket ran dry: in debt
  EXPECT_EQ(bc.placement_allowance_ns(), 0);
  // No windup: as soon as the cost goes away, the period comes back down,
  // and the debt is paid back (never forgiven) by budget left unused.
  model.fixed_cpu_pct = 0.05;
  const int64_t debt = r.credit_ns;
  for (int i = 0; i < 25; ++i) r = bc.Update(model.Step(clock, bc.sample_period()), 0);
  EXPECT_LT(r.sample_period, config.max_sample_period / 4);
  EXPECT_GT(r.credit_ns, debt);
}

TEST(BudgetControllerTest, ScanCostIsBudgetedToo) {
  FakeClock clock;
  BudgetConfig config;
  BudgetController bc(config, &clock);
  bc.Update(0, 0);
  // A-bit scanner only (no PMU): cost is proportional to the scan rate.
  BudgetReport r;
  for (int i = 0; i < 30; ++i) {
    const auto pages = static_cast<uint64_t>(bc.scan_pages_per_s());
    clock.Advance(kWindowNs, 100'000);
    r = bc.Update(0, pages);
  }
  EXPECT_NEAR(r.used_pct, config.budget_pct * config.target_fraction * config.sampling_share,
              0.05);
  EXPECT_GT(r.scan_pct, 0.25);
}

// A cheap scan (THP-backed memory: one PMD per 512 pages) can run far
// faster than the initial rate.  Only the scan rate's own limit bounds it
// when the scan rate is the knob; the PEBS period limits (4x the initial
// intensity here) used to cap it.
TEST(BudgetControllerTest, ScanRateKnobIsBoundedByTheScanLimitsOnly) {
  for (SamplingKnob knob : {SamplingKnob::kScanRate, SamplingKnob::kSamplePeriod}) {
    FakeClock clock;
    BudgetConfig config;
    config.knob = knob;
    config.scan_cost_ns_per_page = 0.05;
    BudgetController bc(config, &clock);
    bc.Update(0, 0);
    BudgetReport r;
    for (int i = 0; i < 60; ++i) {
      const auto pages = static_cast<uint64_t>(bc.scan_pages_per_s());
      // Own CPU: 0.1 ns per page scanned (plus the 0.05 ns estimate).
      clock.Advance(kWindowNs, static_cast<int64_t>(pages / 10));
      r = bc.Update(0, pages);
    }
    if (knob == SamplingKnob::kScanRate) {
      // 0.425 % of a vCPU at 0.15 ns per page would be ~28 M pages/s:
      // the 16 M pages/s limit binds.
      EXPECT_DOUBLE_EQ(r.scan_pages_per_s, config.max_scan_pages_per_s);
    } else {
      EXPECT_DOUBLE_EQ(r.scan_pages_per_s,
                       config.initial_scan_pages_per_s *
                           static_cast<double>(config.initial_sample_period) /
                           static_cast<double>(config.min_sample_period));
    }
    EXPECT_LT(r.used_pct, config.budget_pct * config.target_fraction);
    if (knob == SamplingKnob::kScanRate) {
      // No windup: one expensive window brings the rate down at once.
      clock.Advance(kWindowNs, kWindowNs / 10);
      r = bc.Update(0, static_cast<uint64_t>(bc.scan_pages_per_s()));
      EXPECT_LT(r.scan_pages_per_s, 0.99 * config.max_scan_pages_per_s);
    }
  }
}

// An accessed-bit sample is a young page the daemon read: it costs the
// workload nothing beyond the scan, which is priced per page.  Charging it
// a PEBS record's cost billed a 64 MiB hot set ~4 ms per pass that nobody
// spent.
TEST(BudgetControllerTest, RecordCostOnlyWithTheSamplePeriodKnob) {
  for (SamplingKnob knob : {SamplingKnob::kScanRate, SamplingKnob::kSamplePeriod}) {
    FakeClock clock;
    BudgetConfig config;
    config.knob = knob;
    BudgetController bc(config, &clock);
    bc.Update(0, 0);
    clock.Advance(kWindowNs, 0);
    const BudgetReport r = bc.Update(16384, 1000);
    const double scan_ns = 1000 * config.scan_cost_ns_per_page;
    const double record_ns = knob == SamplingKnob::kSamplePeriod ? 16384 * config.sample_cost_ns : 0;
    EXPECT_DOUBLE_EQ(r.sampling_pct, 100.0 * record_ns / kWindowNs);
    EXPECT_DOUBLE_EQ(r.used_pct, 100.0 * (scan_ns + record_ns) / kWindowNs);
  }
}

TEST(BudgetControllerTest, FirstUpdateOnlyStartsTheWindow) {
  FakeClock clock;
  BudgetController bc(BudgetConfig(), &clock);
  const BudgetReport r = bc.Update(1'000'000, 0);
  EXPECT_EQ(r.window_ns, 0);
  EXPECT_EQ(r.sample_period, BudgetConfig().initial_sample_period);
  // A clock that did not advance measures nothing either (the samples'
  // estimated cost is still debited).
  EXPECT_EQ(bc.Update(5, 0).window_ns, 0);
}

TEST(BudgetControllerTest, SpendingWithinOneClockTickIsStillPaid) {
  FakeClock clock;
  BudgetConfig config;
  BudgetController bc(config, &clock);
  bc.Update(0, 0);
  const int64_t full = bc.placement_allowance_ns();
  clock.Advance(0, full);  // spent the whole bucket, no time passed
  const BudgetReport r = bc.Update(0, 0, full);
  EXPECT_EQ(r.window_ns, 0);
  EXPECT_EQ(bc.placement_allowance_ns(), 0);
  EXPECT_EQ(r.credit_ns, 0);
  clock.Advance(0, 1000);
  EXPECT_TRUE(bc.Update(0, 0, 1000).over_budget);
}

TEST(BudgetControllerTest, ConfigValidation) {
  BudgetConfig c;
  EXPECT_TRUE(c.Validate().ok());
  c.budget_pct = 0;
  EXPECT_FALSE(c.Validate().ok());
  c = BudgetConfig();
  c.min_sample_period = 5000;  // above the initial period
  EXPECT_FALSE(c.Validate().ok());
  c = BudgetConfig();
  c.max_step = 1;
  EXPECT_FALSE(c.Validate().ok());
  c = BudgetConfig();
  c.sampling_share = 0;
  EXPECT_FALSE(c.Validate().ok());
  c = BudgetConfig();
  c.burst_s = -1;
  EXPECT_FALSE(c.Validate().ok());
}

// A caller that does as much placement work as it is allowed (and then
// overshoots by up to `overshoot_ns` per tick, as a mis-estimated migration
// would): over every stretch from the start, total cost stays within
// budget * T + the bucket + one overshoot + one window's sampling (the
// allowance is handed out before that window's sampling is paid), and the
// budget is actually used.  Sampling is light here (within its share from
// the start); convergence of heavy sampling is the tests above.
TEST(BudgetControllerTest, GreedyPlacementStaysWithinBudgetPlusBurst) {
  FakeClock clock;
  BudgetConfig config;  // 1 %, bucket 30 s = 300 ms
  BudgetController bc(config, &clock);
  CostModel model;
  model.noise = 0;
  model.events_per_s = 2e6;  // ~0.07 % of a vCPU at the initial period
  bc.Update(0, 0);
  const int64_t overshoot_ns = 3'000'000;
  const double bucket_ns = config.budget_pct / 100 * config.burst_s * 1e9;
  double estimated_ns = 0;  // sampling cost charged to the workload
  std::mt19937_64 rng(7);
  for (int i = 1; i <= 600; ++i) {
    // The sampling side of the window, then placement work on top.
    const uint64_t samples = model.Step(clock, bc.sample_period());
    int64_t work = 0;
    if (bc.placement_allowance_ns() > 0) {
      work = bc.placement_allowance_ns() +
             static_cast<int64_t>(rng() % static_cast<uint64_t>(overshoot_ns));
      clock.Advance(0, work);
    }
    const BudgetReport r = bc.Update(samples, 0, work);
    estimated_ns += static_cast<double>(samples) * config.sample_cost_ns;
    const double total = static_cast<double>(clock.OwnCpuNs()) + estimated_ns;
    const double t_ns = static_cast<double>(i) * kWindowNs;
    const double one_window_sampling_ns = 0.001 * kWindowNs;
    ASSERT_LE(total, config.budget_pct / 100 * t_ns + bucket_ns + overshoot_ns +
                         one_window_sampling_ns)
        << "after " << i << " s";
    if (i == 600) {
      // Greedy use spends nearly all of it (what sampling leaves).
      EXPECT_GE(total, 0.95 * config.budget_pct / 100 * t_ns);
      EXPECT_GT(r.other_pct, 0);
      EXPECT_NEAR(r.long_pct, config.budget_pct, 0.25);
    }
  }
}

TEST(BudgetControllerTest, QuietTimeSavesForABurst) {
  FakeClock clock;
  BudgetConfig config;
  BudgetController bc(config, &clock);
  const int64_t full = static_cast<int64_t>(config.budget_pct / 100 * config.burst_s * 1e9);
  EXPECT_EQ(bc.placement_allowance_ns(), full);  // starts full
  bc.Update(0, 0);
  // A burst empties it...
  clock.Advance(kWindowNs, full);
  BudgetReport r = bc.Update(0, 0, full);
  EXPECT_NEAR(static_cast<double>(bc.placement_allowance_ns()),
              config.budget_pct / 100 * kWindowNs, 1e3);
  EXPECT_FALSE(r.over_budget);
  // ...quiet windows refill it at the budget's rate, up to the cap.
  for (int i = 0; i < 10; ++i) {
    clock.Advance(kWindowNs, 0);
    bc.Update(0, 0);
  }
  EXPECT_NEAR(static_cast<double>(bc.placement_allowance_ns()),
              11 * config.budget_pct / 100 * kWindowNs, 1e3);
  for (int i = 0; i < 100; ++i) {
    clock.Advance(kWindowNs, 0);
    r = bc.Update(0, 0);
  }
  EXPECT_EQ(bc.placement_allowance_ns(), full);
  EXPECT_EQ(r.credit_ns, full);
}

TEST(BudgetControllerTest, PlacementCpuIsNotChargedToSampling) {
  FakeClock clock;
  BudgetConfig config;
  BudgetController bc(config, &clock);
  bc.Update(0, 0);
  // 0.2 % sampling side + 5 % placement: the sampling loop sees 0.2 %.
  clock.Advance(kWindowNs, 2'000'000 + 50'000'000);
  const BudgetReport r = bc.Update(0, 0, 50'000'000);
  EXPECT_NEAR(r.own_cpu_pct, 5.2, 1e-9);
  EXPECT_NEAR(r.other_pct, 5.0, 1e-9);
  EXPECT_NEAR(r.smoothed_pct, 0.2, 1e-9);
  EXPECT_NEAR(r.used_pct, 5.2, 1e-9);
  // A caller's placement figure above own CPU is clamped to it.
  clock.Advance(kWindowNs, 1'000'000);
  EXPECT_NEAR(bc.Update(0, 0, 9'000'000'000).other_pct, 0.1, 1e-9);
}

}  // namespace
}  // namespace tiervm::placement

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
    EXPECT_GE(r.smoothed_pct, config.budget_pct * 0.7) << "window " << i;
    EXPECT_FALSE(r.over_budget);
  }
  EXPECT_NEAR(r.smoothed_pct, config.budget_pct * config.target_fraction, 0.1);
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
  EXPECT_TRUE(r.over_budget);
  // No windup: as soon as the cost goes away, the period comes back down.
  model.fixed_cpu_pct = 0.05;
  for (int i = 0; i < 25; ++i) r = bc.Update(model.Step(clock, bc.sample_period()), 0);
  EXPECT_FALSE(r.over_budget);
  EXPECT_LT(r.sample_period, config.max_sample_period / 4);
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
  EXPECT_NEAR(r.used_pct, config.budget_pct * config.target_fraction, 0.1);
  EXPECT_GT(r.scan_pct, 0.5);
}

TEST(BudgetControllerTest, FirstUpdateOnlyStartsTheWindow) {
  FakeClock clock;
  BudgetController bc(BudgetConfig(), &clock);
  const BudgetReport r = bc.Update(1'000'000, 0);
  EXPECT_EQ(r.window_ns, 0);
  EXPECT_EQ(r.sample_period, BudgetConfig().initial_sample_period);
  // A clock that did not advance measures nothing either.
  EXPECT_EQ(bc.Update(5, 0).window_ns, 0);
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
}

}  // namespace
}  // namespace tiervm::placement

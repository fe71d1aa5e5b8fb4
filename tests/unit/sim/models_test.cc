// Baseline models and our policy on small traces.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/models.h"
#include "sim/ours.h"
#include "sim/report.h"
#include "sim/sim.h"
#include "traces/generators.h"

namespace tiervm::sim {
namespace {

constexpr uint64_t kBase = 0x7f0000000000ull;

Sample S(uint64_t page, uint32_t weight = 1) {
  Sample s;
  s.pid = 7;
  s.vaddr = kBase + page * 4096;
  s.weight = weight;
  return s;
}

// Hits of the best static placement of `cap` pages for records [a, b).
uint64_t BruteForceBest(const SimTrace& t, size_t a, size_t b, uint64_t cap) {
  uint64_t best = 0;
  const uint32_t n = t.num_pages;
  std::vector<uint32_t> used;
  for (size_t i = a; i < b; ++i) used.push_back(t.page_of[i]);
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  (void)n;
  const uint32_t m = static_cast<uint32_t>(used.size());
  for (uint32_t mask = 0; mask < (1u << m); ++mask) {
    if (static_cast<uint64_t>(__builtin_popcount(mask)) > cap) continue;
    uint64_t hits = 0;
    for (size_t i = a; i < b; ++i) {
      const size_t k = std::lower_bound(used.begin(), used.end(), t.page_of[i]) - used.begin();
      if (mask & (1u << k)) hits += t.records[i].weight;
    }
    best = std::max(best, hits);
  }
  return best;
}

TEST(Oracle, OptimalPerEpochOnTinyTraces) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 20; ++round) {
    std::vector<Sample> r;
    for (int i = 0; i < 40; ++i) r.push_back(S(rng() % 7, 1 + rng() % 3));
    auto t = SimTrace::Build("tiny", r, 4096);
    ASSERT_TRUE(t.ok());
    SimConfig c;
    c.fmem_capacity_pages = 2 + round % 3;
    c.window_accesses = 1000;
    const uint64_t epoch = 20;
    Simulation sim(&*t, c);
    OraclePolicy o(epoch);
    ASSERT_TRUE(sim.Run(o).ok());
    uint64_t best = 0;
    const auto& first = o.epoch_first_record();
    for (size_t e = 0; e < first.size(); ++e) {
      const size_t b = e + 1 < first.size() ? first[e + 1] : t->records.size();
      best += BruteForceBest(*t, first[e], b, c.fmem_capacity_pages);
    }
    EXPECT_EQ(sim.metrics().fmem_accesses, best) << "round " << round;
    EXPECT_LE(sim.fmem_used_pages(), c.fmem_capacity_pages);
  }
}

TEST(Oracle, PrevSetHitFractionMarksPhaseChange) {
  // Epoch 0 uses pages 0-1, epoch 1 the same, epoch 2 pages 4-5.
  std::vector<Sample> r;
  for (int e = 0; e < 3; ++e) {
    for (int i = 0; i < 10; ++i) r.push_back(S(e == 2 ? 4 + i % 2 : i % 2));
  }
  auto t = SimTrace::Build("p", r, 4096);
  ASSERT_TRUE(t.ok());
  SimConfig c;
  c.fmem_capacity_pages = 2;
  Simulation sim(&*t, c);
  OraclePolicy o(10);
  ASSERT_TRUE(sim.Run(o).ok());
  ASSERT_EQ(o.prev_set_hit_fraction().size(), 3u);
  EXPECT_DOUBLE_EQ(o.prev_set_hit_fraction()[1], 1.0);
  EXPECT_DOUBLE_EQ(o.prev_set_hit_fraction()[2], 0.0);
  EXPECT_EQ(sim.metrics().fmem_accesses, 30u);
  auto pc = FindPhaseChanges(o.prev_set_hit_fraction(), o.epoch_first_access(), o.epoch_accesses());
  ASSERT_EQ(pc.size(), 1u);
  EXPECT_EQ(pc[0].access, 20u);
}

TEST(FirstTouch, NeverMigrates) {
  traces::GenCommon g;
  g.records = 20000;
  traces::GupsSpec s;
  s.footprint_bytes = 16 << 20;
  s.hot_bytes = 2 << 20;
  auto r = traces::GenerateGups(g, s);
  ASSERT_TRUE(r.ok());
  auto t = SimTrace::Build("g", *r, 4096);
  ASSERT_TRUE(t.ok());
  SimConfig c;
  c.fmem_capacity_pages = 1024;
  Simulation sim(&*t, c);
  FirstTouchPolicy ft;
  ASSERT_TRUE(sim.Run(ft).ok());
  EXPECT_EQ(sim.metrics().promotions + sim.metrics().demotions, 0u);
  EXPECT_EQ(sim.metrics().migrate_ns, 0);
  EXPECT_EQ(sim.fmem_used_pages(), 1024u);
}

// A policy's named figure from Extra(); NaN when it has none.
double Extra(const Policy& p, const std::string& name) {
  for (const auto& [k, v] : p.Extra()) {
    if (k == name) return v;
  }
  return std::nan("");
}

SimTrace HotOnSmemTrace(uint64_t records) {
  // 64 MiB, hot 8 MiB at the end: first touch fills FMEM with the start.
  traces::GenCommon g;
  g.records = records;
  g.weight = 16;
  traces::GupsSpec s;
  s.footprint_bytes = 64 << 20;
  s.hot_bytes = 8 << 20;
  s.hot_frac = 0.95;
  auto r = traces::GenerateGups(g, s);
  auto t = SimTrace::Build("hot", *r, 4096);
  return *std::move(t);
}

TEST(Tpp, PromotionRateLimitRespected) {
  const SimTrace t = HotOnSmemTrace(400000);
  SimConfig c;
  c.fmem_capacity_pages = 4096;  // 16 MiB
  TppConfig tc;
  tc.scan_period_ns = 20'000'000;
  tc.hot_threshold_ns = 1'000'000'000;
  tc.rate_limit_mb_per_s = 10;  // 10 MB/s over 100 ms windows = 244 pages
  tc.rate_window_ns = 100'000'000;
  Simulation sim(&t, c);
  TppPolicy tpp(tc);
  ASSERT_TRUE(sim.Run(tpp).ok());
  const uint64_t limit = static_cast<uint64_t>(10e6 * 0.1 / 4096);
  EXPECT_GT(sim.metrics().promotions, 0u);
  EXPECT_GT(sim.metrics().hint_faults, 0u);
  EXPECT_LE(tpp.promoted_in_window_max_pages(), limit);
  EXPECT_EQ(tpp.promoted_in_window_max_pages(), limit);  // the limit bites here
  EXPECT_LE(sim.fmem_used_pages(), c.fmem_capacity_pages);
}

TEST(Tpp, PromotesHotSetAndDemotesToWatermark) {
  const SimTrace t = HotOnSmemTrace(400000);
  SimConfig c;
  c.fmem_capacity_pages = 4096;
  TppConfig tc;
  tc.scan_period_ns = 20'000'000;
  Simulation sim(&t, c);
  TppPolicy tpp(tc);
  ASSERT_TRUE(sim.Run(tpp).ok());
  EXPECT_GT(sim.metrics().demotions, 0u);
  Simulation ft_sim(&t, c);
  FirstTouchPolicy ft;
  ASSERT_TRUE(ft_sim.Run(ft).ok());
  EXPECT_GT(sim.metrics().HitRatio(), ft_sim.metrics().HitRatio() + 0.3);
}

TEST(Memtis, BinsAndThresholdFitCapacity) {
  EXPECT_EQ(MemtisPolicy::Bin(0), 0);
  EXPECT_EQ(MemtisPolicy::Bin(1), 1);
  EXPECT_EQ(MemtisPolicy::Bin(3), 2);
  EXPECT_EQ(MemtisPolicy::Bin(4), 3);
  EXPECT_EQ(MemtisPolicy::Bin(1u << 30), 15);
  const SimTrace t = HotOnSmemTrace(400000);
  SimConfig c;
  c.fmem_capacity_pages = 4096;
  MemtisConfig mc;
  mc.adaptation_samples = 2000;
  mc.cooling_samples = 2000000;  // no cooling: cold pages pile up counts
  mc.migrate_period_ns = 20'000'000;
  mc.sample_period = 31;
  Simulation sim(&t, c);
  MemtisPolicy m(mc);
  ASSERT_TRUE(sim.Run(m).ok());
  EXPECT_GT(m.hot_bin(), 1);
  EXPECT_GT(sim.metrics().promotions, 0u);
  Simulation ft_sim(&t, c);
  FirstTouchPolicy ft;
  ASSERT_TRUE(ft_sim.Run(ft).ok());
  EXPECT_GT(sim.metrics().HitRatio(), ft_sim.metrics().HitRatio() + 0.3);
}

TEST(Memtis, CoolingEveryNSamplesKeepsThresholdLow) {
  const SimTrace t = HotOnSmemTrace(100000);
  SimConfig c;
  c.fmem_capacity_pages = 4096;
  MemtisConfig mc;
  mc.sample_period = 31;
  mc.adaptation_samples = 500;
  mc.cooling_samples = 1000;
  Simulation sim(&t, c);
  MemtisPolicy m(mc);
  ASSERT_TRUE(sim.Run(m).ok());
  double coolings = -1;
  for (const auto& [k, v] : m.Extra()) {
    if (k == "coolings") coolings = v;
  }
  EXPECT_EQ(coolings, static_cast<double>(sim.metrics().samples / 1000));
  // With counts halved every 1000 samples, everything sampled fits in FMEM.
  EXPECT_EQ(m.hot_bin(), 1);
}

TEST(Damon, RegionsStayBoundedAndSchemesApply) {
  const SimTrace t = HotOnSmemTrace(400000);
  SimConfig c;
  c.fmem_capacity_pages = 4096;
  DamonConfig dc;
  dc.sample_interval_ns = 500'000;
  dc.aggr_interval_ns = 10'000'000;
  dc.max_regions = 100;
  Simulation sim(&t, c);
  DamonPolicy d(dc);
  ASSERT_TRUE(sim.Run(d).ok());
  EXPECT_LE(d.regions().size(), dc.max_regions);
  EXPECT_GE(d.regions().size(), 1u);
  // Regions tile the spans without overlap.
  for (size_t i = 1; i < d.regions().size(); ++i) {
    EXPECT_LE(d.regions()[i - 1].last, d.regions()[i].first);
  }
  double hot_applied = 0;
  for (const auto& [k, v] : d.Extra()) {
    if (k == "migrate_hot_nr_applied") hot_applied = v;
  }
  EXPECT_GT(hot_applied, 0);
  EXPECT_GT(sim.metrics().promotions, 0u);
}

TEST(Ours, DrivesTheLibraryAndFindsTheHotSet) {
  const SimTrace t = HotOnSmemTrace(400000);
  SimConfig c;
  c.fmem_capacity_pages = 4096;
  OursConfig oc;
  oc.tick_ns = 20'000'000;
  oc.budget.min_sample_period = 101;
  oc.budget.initial_sample_period = 101;
  // The controller sees the CPU the library really takes; a generous budget
  // keeps this test independent of machine speed and sanitizers.
  oc.budget.budget_pct = 50;
  // Every exchange teaches the cost model; on this short trace the
  // promotion hold (on by default) leaves too few of them to converge.
  oc.planner.promote_hold_epochs = 0;
  Simulation sim(&t, c);
  OursPolicy ours(oc);
  ASSERT_TRUE(sim.Run(ours).ok());
  EXPECT_GT(sim.metrics().samples, 0u);
  EXPECT_GT(sim.metrics().promotions, 0u);
  EXPECT_LE(sim.fmem_used_pages(), c.fmem_capacity_pages);
  EXPECT_GT(ours.ingest_ns_per_sample(), 0);
  Simulation o_sim(&t, c);
  OraclePolicy o(1 << 20);
  ASSERT_TRUE(o_sim.Run(o).ok());
  EXPECT_GT(sim.metrics().HitRatio(), 0.8 * o_sim.metrics().HitRatio());
  // The planner read its own CPU from the live clock, and learnt the
  // modelled migration cost (3.2 us per 4 KiB page: ~820 us/MiB) from the
  // moves, starting from hplaced's pessimistic 4000 us/MiB.
  EXPECT_GT(Extra(ours, "cpu_plan_ms"), 0);
  const double modelled_us_per_mib = c.latency.MigrateNs(4096) * 256 / 1e3;
  EXPECT_NEAR(Extra(ours, "move_cost_us_per_mib_final"), modelled_us_per_mib,
              0.1 * modelled_us_per_mib);
  EXPECT_GT(Extra(ours, "cpu_move_ms"), 0);
}

// An allowance that is always zero: a bucket of 0 s and no debt.
OursConfig NoAllowance(double min_rate_mib_per_s) {
  OursConfig oc;
  oc.tick_ns = 20'000'000;
  oc.budget.min_sample_period = 101;
  oc.budget.initial_sample_period = 101;
  oc.budget.budget_pct = 50;  // sampling independent of machine speed
  oc.budget.burst_s = 0;
  oc.budget.max_debt_s = 0;
  oc.planner.min_rate_mib_per_s = min_rate_mib_per_s;
  return oc;
}

TEST(Ours, FloorRatePromotesWithoutAllowance) {
  const SimTrace t = HotOnSmemTrace(400000);
  SimConfig c;
  c.fmem_capacity_pages = 4096;
  Simulation sim(&t, c);
  OursPolicy ours(NoAllowance(32));
  ASSERT_TRUE(sim.Run(ours).ok());
  Simulation ft_sim(&t, c);
  FirstTouchPolicy ft;
  ASSERT_TRUE(ft_sim.Run(ft).ok());
  // The budget left nothing, the TickPlanner's floor moved the hot set.
  EXPECT_GT(ours.floor_ticks(), 0u);
  EXPECT_EQ(Extra(ours, "budget_skipped_ticks"), Extra(ours, "ticks"));
  EXPECT_GT(sim.metrics().promotions, 1000u);
  EXPECT_GT(sim.metrics().HitRatio(), ft_sim.metrics().HitRatio() + 0.3);
  // ... at the floor rate, not the ceiling (256 MiB/s), and no faster in
  // total (both directions), give or take the last tick's interval.
  EXPECT_DOUBLE_EQ(Extra(ours, "rate_mib_per_s_max"), 32);
  const double seconds = sim.metrics().modelled_ns / 1e9;
  const double max_pages = 32.0 * (seconds + 0.08) * 256;
  EXPECT_LE(static_cast<double>(sim.metrics().promotions + sim.metrics().demotions), max_pages);
  // Migration at the floor rate is exempt from the budget.
  EXPECT_GT(Extra(ours, "cpu_floor_move_ms"), 0);
}

TEST(Ours, NoFloorAndNoAllowanceMovesNothing) {
  const SimTrace t = HotOnSmemTrace(400000);
  SimConfig c;
  c.fmem_capacity_pages = 4096;
  Simulation sim(&t, c);
  OursPolicy ours(NoAllowance(0));
  ASSERT_TRUE(sim.Run(ours).ok());
  EXPECT_GT(sim.metrics().samples, 0u);
  EXPECT_EQ(ours.floor_ticks(), 0u);
  EXPECT_GT(ours.budget_limited_ticks(), 0u);
  EXPECT_EQ(sim.metrics().promotions, 0u);
  EXPECT_EQ(sim.metrics().demotions, 0u);
}

TEST(Ours, HeadroomScaledToSimulatedFmem) {
  const SimTrace t = HotOnSmemTrace(20000);
  SimConfig c;
  c.fmem_capacity_pages = 4096;  // 16 MiB: 1 % is 40 pages
  OursConfig oc;
  Simulation sim(&t, c);
  OursPolicy ours(oc);
  ASSERT_TRUE(sim.Run(ours).ok());
  EXPECT_EQ(ours.headroom_bytes(), 40u * 4096);
  // A headroom below the cap is hplaced's, unchanged.
  oc.planner.headroom_bytes = 64 << 10;
  Simulation sim2(&t, c);
  OursPolicy ours2(oc);
  ASSERT_TRUE(sim2.Run(ours2).ok());
  EXPECT_EQ(ours2.headroom_bytes(), 64u << 10);
}

TEST(Report, PhaseChangesAndConvergence) {
  // Epoch 2 keeps 20 % of its hits with epoch 1's set; the short last
  // epoch is ignored.
  auto pc = FindPhaseChanges({1.0, 0.9, 0.2, 0.1}, {0, 100, 200, 300}, {100, 100, 100, 10});
  ASSERT_EQ(pc.size(), 1u);
  EXPECT_EQ(pc[0].epoch, 2u);
  EXPECT_EQ(pc[0].access, 200u);
  Metrics pol, orc;
  for (int k = 0; k < 6; ++k) {
    pol.win_accesses.push_back(50);
    orc.win_accesses.push_back(50);
    orc.win_fmem.push_back(40);
    pol.win_end_ns.push_back(1e9 * (k + 1));
  }
  pol.win_fmem = {40, 40, 40, 10, 20, 38};
  auto c = TimeToFractionOfOracle(pol, orc, 150, UINT64_MAX, 0.9, 1);
  EXPECT_TRUE(c.reached);
  EXPECT_EQ(c.accesses, 150u);  // windows 3, 4, 5: 38 >= 0.9 * 40 at the end of window 5
  EXPECT_DOUBLE_EQ(c.seconds, 3.0);
  auto never = TimeToFractionOfOracle(pol, orc, 150, 250);
  EXPECT_FALSE(never.reached);
  // Sustained: from 0, windows 0-2 are good but 3 is not; with 2 windows
  // of sustain, window 0 qualifies, with 4 only window 5 (the last) does.
  EXPECT_EQ(TimeToFractionOfOracle(pol, orc, 0, UINT64_MAX, 0.9, 2).accesses, 50u);
  EXPECT_EQ(TimeToFractionOfOracle(pol, orc, 0, UINT64_MAX, 0.9, 4).accesses, 300u);
}

}  // namespace
}  // namespace tiervm::sim

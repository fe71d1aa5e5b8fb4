#include "placement/tick_planner.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "test_util.h"

namespace tiervm::placement {
namespace {

using testing::At;
using testing::kMiB;

constexpr Pid kPid = 7;
constexpr int64_t kSecond = 1'000'000'000;

RangeStats R(double a_mib, double b_mib, double weight, Pid pid = kPid) {
  return testing::R(a_mib, b_mib, weight, pid);
}

// Counts lookups so tests can see what the residency cache saves.
class CountingLocator final : public PageLocator {
 public:
  explicit CountingLocator(const InMemoryPageLocator& inner) : inner_(inner) {}
  absl::StatusOr<Residency> Locate(Pid pid, Vaddr start, Vaddr end) const override {
    ++locates;
    return inner_.Locate(pid, start, end);
  }
  absl::Status ForEachPage(Pid pid, Vaddr start, Vaddr end,
                           absl::FunctionRef<bool(const PageInfo&)> fn) const override {
    ++walks;
    return inner_.ForEachPage(pid, start, end, fn);
  }
  mutable int locates = 0;
  mutable int walks = 0;

 private:
  const InMemoryPageLocator& inner_;
};

// A FakeClock whose CPU advances by `cpu_per_read_ns` on every reading:
// planning that looks at the clock "costs" something.
class TickingClock final : public Clock {
 public:
  int64_t MonotonicNs() const override { return 0; }
  int64_t OwnCpuNs() const override { return cpu_ += cpu_per_read_ns; }
  int64_t cpu_per_read_ns = 0;

 private:
  mutable int64_t cpu_ = 0;
};

// FMEM holds 64 MiB of cold data in [0, 64); a hot 16 MiB region [100, 116)
// sits on SMEM; a cold region [200, 232) on SMEM.
struct World {
  InMemoryPageLocator mem;
  World() {
    mem.AddPages(kPid, At(0), At(64), kBasePageBytes, Tier::kFmem);
    mem.AddPages(kPid, At(100), At(116), kBasePageBytes, Tier::kSmem);
    mem.AddPages(kPid, At(200), At(232), kBasePageBytes, Tier::kSmem);
  }
  TrackerSnapshot Snap() const {
    return TrackerSnapshot(1, {R(0, 64, 8), R(100, 116, 4096), R(200, 232, 4)});
  }
};

TickInputs Inputs(uint64_t free_mib, int64_t allowance_ns, uint64_t tick = 1) {
  TickInputs in;
  in.tick = tick;
  in.interval_ns = kSecond;
  in.fmem_free_bytes = free_mib * kMiB;
  in.allowance_ns = allowance_ns;
  return in;
}

TEST(TickPlannerConfigTest, Validates) {
  TickPlannerConfig c;
  EXPECT_TRUE(c.Validate().ok());
  c.smem_node = c.fmem_node;
  EXPECT_FALSE(c.Validate().ok());
  c = TickPlannerConfig();
  c.min_rate_mib_per_s = -1;
  EXPECT_FALSE(c.Validate().ok());
  c = TickPlannerConfig();
  c.rate_limit_mib_per_s = 0;
  EXPECT_FALSE(c.Validate().ok());
  c = TickPlannerConfig();
  c.locate_refresh_ticks = 0;
  EXPECT_FALSE(c.Validate().ok());
  c = TickPlannerConfig();
  c.restore_after_ticks = -1;
  EXPECT_FALSE(c.Validate().ok());
  c = TickPlannerConfig();
  c.initial_move_cost_us_per_mib = 0;
  EXPECT_FALSE(c.Validate().ok());
  c = TickPlannerConfig();
  c.min_exchange_gain = 0.9;
  EXPECT_FALSE(c.Validate().ok());
}

TEST(TickPlannerTest, AmpleAllowanceMovesAtTheRateLimit) {
  World w;
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  c.rate_limit_mib_per_s = 20;
  TickPlanner p(c);
  FakeClock clock;
  auto plan = p.Plan(w.Snap(), w.mem, Inputs(2, 10 * kSecond), clock);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->budget_limited);
  EXPECT_FALSE(plan->floor_applied);
  EXPECT_DOUBLE_EQ(plan->rate_mib_per_s, 20);
  EXPECT_LE(plan->exchange.moved_bytes(), 20 * kMiB);
  EXPECT_GT(plan->exchange.promote_bytes, 0u);
  EXPECT_EQ(plan->tracked_fmem_bytes, 64 * kMiB);
  EXPECT_EQ(plan->tracked_smem_bytes, 48 * kMiB);
  EXPECT_EQ(plan->fmem_capacity_bytes, 66 * kMiB);
}

// The budget's allowance is spent (fixed overhead above the budget, as
// under TCG): the floor still moves the hot region.
TEST(TickPlannerTest, NoAllowanceStillMovesAtTheFloor) {
  World w;
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  c.min_rate_mib_per_s = 8;
  TickPlanner p(c);
  FakeClock clock;
  auto plan = p.Plan(w.Snap(), w.mem, Inputs(2, 0), clock);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->budget_limited);
  EXPECT_TRUE(plan->floor_applied);
  EXPECT_DOUBLE_EQ(plan->rate_mib_per_s, 8);
  EXPECT_GT(plan->exchange.promote_bytes, 0u);
  EXPECT_LE(plan->exchange.moved_bytes(), 8 * kMiB);
  // Executing may spend what the floor's bytes cost, with margin.
  EXPECT_GE(plan->cpu_limit_ns, static_cast<int64_t>(8 * p.move_cost_ns_per_mib()));
}

TEST(TickPlannerTest, FloorZeroLetsTheBudgetStarvePlacement) {
  World w;
  TickPlannerConfig c;
  c.min_rate_mib_per_s = 0;
  TickPlanner p(c);
  FakeClock clock;
  auto plan = p.Plan(w.Snap(), w.mem, Inputs(2, 0), clock);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->floor_applied);
  EXPECT_EQ(plan->exchange.moved_bytes(), 0u);
}

TEST(TickPlannerTest, TheCeilingCapsTheFloor) {
  World w;
  TickPlannerConfig c;
  c.min_rate_mib_per_s = 64;
  c.rate_limit_mib_per_s = 4;
  TickPlanner p(c);
  FakeClock clock;
  auto plan = p.Plan(w.Snap(), w.mem, Inputs(2, 0), clock);
  ASSERT_TRUE(plan.ok());
  EXPECT_DOUBLE_EQ(plan->rate_mib_per_s, 4);
  EXPECT_LE(plan->exchange.moved_bytes(), 4 * kMiB);
}

// Nothing hotter on SMEM and FMEM above its watermark: no floor, no moves,
// and no page is listed for demotion.
TEST(TickPlannerTest, NothingToDoNeedsNoFloor) {
  InMemoryPageLocator mem;
  mem.AddPages(kPid, At(0), At(16), kBasePageBytes, Tier::kFmem);
  mem.AddPages(kPid, At(100), At(132), kBasePageBytes, Tier::kSmem);
  TrackerSnapshot snap(1, {R(0, 16, 4096), R(100, 132, 4)});
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  TickPlanner p(c);
  FakeClock clock;
  auto plan = p.Plan(snap, mem, Inputs(200, 0), clock);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->floor_applied);
  EXPECT_EQ(plan->exchange.moved_bytes(), 0u);
}

// Cold start, or FMEM granted by the host: free FMEM is filled with the
// hottest SMEM data first, one migration per page, no demotion.
TEST(TickPlannerTest, FreeFmemIsFilledWithoutDemotion) {
  World w;
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  TickPlanner p(c);
  FakeClock clock;
  auto plan = p.Plan(w.Snap(), w.mem, Inputs(100, 10 * kSecond), clock);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->exchange.promote_bytes, 16 * kMiB);
  EXPECT_EQ(plan->exchange.demote_bytes, 0u);
  for (const PageMove& m : plan->exchange.Flatten()) {
    EXPECT_GE(m.addr, At(100));
    EXPECT_LT(m.addr, At(116));
  }
}

// Promotions the executor did not apply (it ran out of CPU, or they
// failed) are planned again next tick: the promotion hold, which Plan()
// puts on every planned promotion, is released by Learn() for them.  A
// hold kept them on SMEM for promote_hold_epochs epochs (the VM residency
// test under load: three ticks of "no moves" with 24 MiB of the hot set
// still to promote).
TEST(TickPlannerTest, UnappliedPromotionsArePlannedAgain) {
  World w;
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  ASSERT_GT(c.promote_hold_epochs, 0);
  for (bool release : {true, false}) {
    SCOPED_TRACE(release ? "released" : "held");
    TickPlanner p(c);
    FakeClock clock;
    auto plan = p.Plan(w.Snap(), w.mem, Inputs(100, 10 * kSecond, 1), clock);
    ASSERT_TRUE(plan.ok());
    ASSERT_EQ(plan->exchange.promote_bytes, 16 * kMiB);
    // Nothing applied.
    TickOutcome none;
    if (release) {
      for (const PageMove& m : plan->exchange.Flatten()) {
        if (m.dest_tier == Tier::kFmem) none.unapplied_promotions.push_back(m);
      }
    }
    p.Learn(none);
    auto again = p.Plan(w.Snap(), w.mem, Inputs(100, 10 * kSecond, 2), clock);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->exchange.promote_bytes, release ? 16 * kMiB : 0u);
  }
}

// The balloon's pending growth counts as missing free FMEM: the planner
// demotes the coldest pages for it, with the floor if the budget is spent.
TEST(TickPlannerTest, BalloonPendingGrowthDemotesColdestFirst) {
  World w;
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  c.min_rate_mib_per_s = 64;
  TickPlanner p(c);
  FakeClock clock;
  TickInputs in = Inputs(8, 0);
  in.balloon_pending_bytes = 24 * kMiB;
  // Nothing hot anywhere: only the watermark to restore.
  TrackerSnapshot snap(1, {R(0, 64, 8), R(100, 116, 0), R(200, 232, 4)});
  auto plan = p.Plan(snap, w.mem, in, clock);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->floor_applied);
  EXPECT_EQ(plan->exchange.promote_bytes, 0u);
  // 24 MiB promised, 8 free: 16 MiB short of the promise, plus the 4 MiB
  // headroom.  The locate window (16 MiB) grows to what the floor rate
  // moves in the tick (64 MiB), so all 20 MiB go in this tick.
  EXPECT_EQ(plan->exchange.demote_bytes, 20 * kMiB);
  EXPECT_EQ(plan->fmem_capacity_bytes, (64 + 8 - 24) * kMiB);
}

// The locate window bounds what one tick lists of a long range, but never
// below what the tick's rate can move: a 64 MiB hot range comes up at the
// rate, not at a 16 MiB window per tick.
TEST(TickPlannerTest, LocateWindowIsAtLeastWhatTheRateMoves) {
  InMemoryPageLocator mem;
  mem.AddPages(kPid, At(0), At(64), kBasePageBytes, Tier::kSmem);
  TrackerSnapshot snap(1, {R(0, 64, 4096)});
  for (double rate : {16.0, 64.0, 256.0}) {
    TickPlannerConfig c;
    c.headroom_bytes = 4 * kMiB;
    c.min_rate_mib_per_s = rate;
    c.rate_limit_mib_per_s = 256;
    ASSERT_EQ(c.locate_window_pages, 4096u) << "the shipped default";
    TickPlanner p(c);
    FakeClock clock;
    auto plan = p.Plan(snap, mem, Inputs(512, 0), clock);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->exchange.promote_bytes, std::min(rate, 64.0) * kMiB) << rate;
  }
}

// A long hot range whose SMEM pages all sit in one of its eight locate
// windows: the walk passes over the windows without SMEM pages, and the
// window is kept until it is empty, so the pages come up in the first two
// ticks (a window rotating with the tick finds them once in eight ticks).
// Hot keys scattered over a heap: a 128 MiB range, [0,32) on FMEM (full),
// [32,128) on SMEM, 256 hot pages spread over the SMEM part.  Page by page
// the planner finds them in every window of the range, and makes room from
// FMEM windows first touch filled, which hold none of them.
TEST(TickPlannerTest, ScatteredHotPagesOfOneRangeAllReachFmem) {
  InMemoryPageLocator mem;
  mem.AddPages(kPid, At(0), At(32), kBasePageBytes, Tier::kFmem);
  mem.AddPages(kPid, At(32), At(128), kBasePageBytes, Tier::kSmem);
  auto pages = std::make_shared<PageHeatMap>();
  std::vector<Vaddr> hot;
  double weight = 0;
  for (int i = 0; i < 256; ++i) {
    hot.push_back(At(32) + static_cast<Vaddr>(i) * 96 * kBasePageBytes + 3 * kBasePageBytes);
    (*pages)[hot.back() / kBasePageBytes] = 20;
    weight += 20;
  }
  const TrackerSnapshot snap(1, {testing::WithCounts(R(0, 128, weight), *pages)},
                             PageHeat{{kPid, pages}});
  TickPlannerConfig c;
  c.headroom_bytes = 0;
  c.min_rate_mib_per_s = 4;
  c.rate_limit_mib_per_s = 4;
  c.promote_hold_epochs = 0;
  TickPlanner p(c);
  FakeClock clock;
  for (uint64_t tick = 1; tick <= 20; ++tick) {
    auto plan = p.Plan(snap, mem, Inputs(0, 0, tick), clock);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->classes.page_resolved_ranges, 1u);
    for (const PageMove& m : plan->exchange.Flatten()) {
      if (m.dest_tier == Tier::kSmem) {
        EXPECT_FALSE(std::binary_search(hot.begin(), hot.end(), m.addr)) << "a hot page demoted";
      }
      ASSERT_TRUE(mem.Move(m.pid, m.addr, m.dest_tier).ok());
    }
  }
  // Now all on FMEM: over locate_refresh_ticks (10) ticks each hot page
  // is looked up once, not once per tick.
  CountingLocator counting(mem);
  for (uint64_t tick = 21; tick <= 30; ++tick) {
    auto plan = p.Plan(snap, counting, Inputs(0, 0, tick), clock);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->exchange.moved_bytes(), 0u);
  }
  EXPECT_LE(counting.walks, 256 + 8) << "hot pages on FMEM were looked up every tick";
  int on_fmem = 0;
  for (Vaddr v : hot) {
    auto res = mem.Locate(kPid, v, v + kBasePageBytes);
    ASSERT_TRUE(res.ok());
    on_fmem += res->fmem_bytes > 0 ? 1 : 0;
  }
  EXPECT_EQ(on_fmem, 256);
  EXPECT_EQ(mem.BytesOn(Tier::kFmem), 32 * kMiB);
}

TEST(TickPlannerTest, ALocateWindowIsKeptWhileItHoldsPagesToMove) {
  InMemoryPageLocator mem;
  mem.AddPages(kPid, At(0), At(64), kBasePageBytes, Tier::kFmem);
  mem.AddPages(kPid, At(64), At(80), kBasePageBytes, Tier::kSmem);
  mem.AddPages(kPid, At(80), At(128), kBasePageBytes, Tier::kFmem);
  const TrackerSnapshot snap(1, {R(0, 128, 1 << 16)});
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  c.min_rate_mib_per_s = 8;
  c.rate_limit_mib_per_s = 8;
  ASSERT_EQ(c.locate_window_pages * kBasePageBytes, 16 * kMiB) << "eight windows";
  TickPlanner p(c);
  FakeClock clock;
  std::vector<uint64_t> promoted;
  for (uint64_t tick = 1; tick <= 12; ++tick) {
    auto plan = p.Plan(snap, mem, Inputs(512, 0, tick), clock);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->exchange.demote_bytes, 0u);
    for (const PageMove& m : plan->exchange.Flatten()) {
      ASSERT_TRUE(mem.Move(m.pid, m.addr, m.dest_tier).ok());
    }
    promoted.push_back(plan->exchange.promote_bytes);
  }
  size_t first = 0;
  while (first < promoted.size() && promoted[first] == 0) ++first;
  ASSERT_LE(first + 1, promoted.size() - 1) << "never promoted";
  // Found at once, then 8 MiB a tick.
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(promoted[first], 8 * kMiB);
  EXPECT_EQ(promoted[first + 1], 8 * kMiB);
  auto res = mem.Locate(kPid, At(0), At(128));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->smem_bytes, 0u);
}

// Free FMEM below a quarter of the headroom that the balloon did not ask
// for is the kernel's: at the shipped default nothing is demoted for it,
// however long it lasts.
TEST(TickPlannerTest, ADipTheBalloonDidNotCauseIsLeftToTheKernel) {
  World w;
  TickPlannerConfig c;
  c.headroom_bytes = 16 * kMiB;
  ASSERT_EQ(c.restore_after_ticks, 0) << "the shipped default";
  TickPlanner p(c);
  FakeClock clock;
  const TrackerSnapshot snap(1, {R(0, 64, 8), R(100, 116, 0), R(200, 232, 4)});
  for (uint64_t tick = 1; tick <= 20; ++tick) {
    auto plan = p.Plan(snap, w.mem, Inputs(2, 10 * kSecond, tick), clock);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->exchange.moved_bytes(), 0u) << tick;
    EXPECT_TRUE(plan->restore_held);
  }
}

// With restore_after_ticks set, such a dip is restored once it has lasted
// that many ticks; a tick above the dip starts the count anew.
TEST(TickPlannerTest, AConfiguredRestoreWaitsForTheDipToLast) {
  World w;
  TickPlannerConfig c;
  c.headroom_bytes = 16 * kMiB;
  c.restore_after_ticks = 3;
  TickPlanner p(c);
  FakeClock clock;
  // Nothing hot: only the watermark could move pages.
  const TrackerSnapshot snap(1, {R(0, 64, 8), R(100, 116, 0), R(200, 232, 4)});
  auto demoted = [&](uint64_t free_mib, uint64_t tick) -> uint64_t {
    auto plan = p.Plan(snap, w.mem, Inputs(free_mib, 0, tick), clock);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? plan->exchange.demote_bytes : ~uint64_t{0};
  };
  EXPECT_EQ(demoted(2, 1), 0u);
  EXPECT_EQ(demoted(2, 2), 0u);
  EXPECT_EQ(demoted(10, 3), 0u);  // back above headroom/4: count restarts
  EXPECT_EQ(demoted(2, 4), 0u);
  EXPECT_EQ(demoted(2, 5), 0u);
  EXPECT_EQ(demoted(2, 6), 14 * kMiB);  // lasted three ticks: restored

  c.restore_after_ticks = 1;
  TickPlanner at_once(c);
  auto plan = at_once.Plan(snap, w.mem, Inputs(2, 0, 1), clock);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->exchange.demote_bytes, 14 * kMiB);
}

// The allowance buys moves at the learnt cost, less what planning spent.
TEST(TickPlannerTest, AllowanceBuysMovesAtTheLearntCost) {
  World w;
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  c.min_rate_mib_per_s = 0;
  c.initial_move_cost_us_per_mib = 1000;  // 1 ms per MiB
  TickPlanner p(c);
  FakeClock clock;
  auto plan = p.Plan(w.Snap(), w.mem, Inputs(2, 6'000'000), clock);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->budget_limited);
  EXPECT_NEAR(plan->affordable_mib, 6, 1e-9);
  EXPECT_LE(plan->exchange.moved_bytes(), 6 * kMiB);
  EXPECT_GT(plan->exchange.moved_bytes(), 0u);

  // Learnt: moves cost 4 ms per MiB now; the same allowance buys a quarter.
  p.Learn({8 * kMiB, 32'000'000, false});
  p.Learn({8 * kMiB, 32'000'000, false});
  p.Learn({8 * kMiB, 32'000'000, false});
  p.Learn({8 * kMiB, 32'000'000, false});
  EXPECT_NEAR(p.move_cost_ns_per_mib(), 4e6, 0.25e6);
  auto plan2 = p.Plan(w.Snap(), w.mem, Inputs(2, 6'000'000, 2), clock);
  ASSERT_TRUE(plan2.ok());
  EXPECT_LT(plan2->affordable_mib, 1.7);

  // Planning that spends the allowance leaves nothing for moves.
  TickingClock ticking;
  ticking.cpu_per_read_ns = 10'000'000;
  TickPlanner p3(c);
  auto plan3 = p3.Plan(w.Snap(), w.mem, Inputs(2, 6'000'000, 3), ticking);
  ASSERT_TRUE(plan3.ok());
  EXPECT_EQ(plan3->affordable_mib, 0);
  EXPECT_EQ(plan3->exchange.moved_bytes(), 0u);
  EXPECT_GT(plan3->plan_cpu_ns, 0);
}

TEST(TickPlannerTest, TinyOrNegativeMeasurementsDoNotTeach) {
  TickPlannerConfig c;
  TickPlanner p(c);
  const double before = p.move_cost_ns_per_mib();
  p.Learn({4096, 1'000'000'000, false});  // below 64 KiB: syscall overhead
  p.Learn({8 * kMiB, -5, false});
  EXPECT_EQ(p.move_cost_ns_per_mib(), before);
}

TEST(TickPlannerTest, EnomemGrowsTheHeadroomAndItShrinksBack) {
  World w;
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  c.enomem_step_bytes = 2 * kMiB;
  c.enomem_max_extra_bytes = 3 * kMiB;
  TickPlanner p(c);
  p.Learn({0, 0, true});
  EXPECT_EQ(p.extra_headroom_bytes(), 2 * kMiB);
  p.Learn({0, 0, true});
  EXPECT_EQ(p.extra_headroom_bytes(), 3 * kMiB);
  FakeClock clock;
  auto plan = p.Plan(w.Snap(), w.mem, Inputs(2, 10 * kSecond), clock);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->headroom_bytes, 7 * kMiB);
  for (int i = 0; i < 6; ++i) p.Learn({0, 0, false});
  EXPECT_EQ(p.extra_headroom_bytes(), 0u);
}

TEST(TickPlannerTest, ResidencyIsCachedAndRefreshedAfterMovesOrAge) {
  World w;
  CountingLocator counting(w.mem);
  TickPlannerConfig c;
  c.locate_refresh_ticks = 5;  // no idle rule by default: the next test
  c.min_rate_mib_per_s = 0;
  TickPlanner p(c);
  FakeClock clock;
  // No allowance, no floor: nothing moves, so only age refreshes.
  ASSERT_TRUE(p.Plan(w.Snap(), counting, Inputs(2, 0, 10), clock).ok());
  const int first = counting.locates;
  EXPECT_GE(first, 3);
  ASSERT_TRUE(p.Plan(w.Snap(), counting, Inputs(2, 0, 11), clock).ok());
  EXPECT_EQ(counting.locates, first);  // all cached
  ASSERT_TRUE(p.Plan(w.Snap(), counting, Inputs(2, 0, 15), clock).ok());
  EXPECT_GE(counting.locates, 2 * first);  // aged out
  // With an allowance, the ranges whose pages moved are located again.
  auto plan = p.Plan(w.Snap(), counting, Inputs(2, 10 * kSecond, 16), clock);
  ASSERT_TRUE(plan.ok());
  ASSERT_GT(plan->exchange.moved_bytes(), 0u);
  const int after_plan = counting.locates;
  ASSERT_TRUE(p.Plan(w.Snap(), counting, Inputs(2, 10 * kSecond, 17), clock).ok());
  EXPECT_GE(counting.locates - after_plan, 2);  // the hot and the cold range
}

// Ranges sampled too little to be hot are located again only after
// locate_idle_refresh_ticks; the hot one at locate_refresh_ticks.  Their
// pages change place only by moves (which forget the entry) or the kernel.
TEST(TickPlannerTest, IdleRangesAreLocatedLessOften) {
  World w;  // ranges: 0-64 weight 8 and 200-232 weight 4 (idle), 100-116 hot
  CountingLocator counting(w.mem);
  TickPlannerConfig c;
  c.locate_refresh_ticks = 5;
  c.locate_idle_refresh_ticks = 20;
  c.min_rate_mib_per_s = 0;
  TickPlanner p(c);
  FakeClock clock;
  ASSERT_TRUE(p.Plan(w.Snap(), counting, Inputs(2, 0, 10), clock).ok());
  const int first = counting.locates;
  EXPECT_EQ(first, 3);
  ASSERT_TRUE(p.Plan(w.Snap(), counting, Inputs(2, 0, 15), clock).ok());
  EXPECT_EQ(counting.locates - first, 1) << "only the hot range aged out";
  ASSERT_TRUE(p.Plan(w.Snap(), counting, Inputs(2, 0, 30), clock).ok());
  EXPECT_EQ(counting.locates - first, 4) << "all three, 20 ticks on";
  // A range that gains weight stops being idle at once.
  TrackerSnapshot warmer(2, {R(0, 64, 8), R(100, 116, 4096), R(200, 232, 4096)});
  ASSERT_TRUE(p.Plan(warmer, counting, Inputs(2, 0, 35), clock).ok());
  EXPECT_EQ(counting.locates - first, 6) << "the hot range and the one that warmed";
  c.locate_idle_refresh_ticks = 4;
  EXPECT_FALSE(c.Validate().ok()) << "idle refresh shorter than the refresh";
  c.locate_idle_refresh_ticks = 0;
  EXPECT_TRUE(c.Validate().ok()) << "no idle rule";
}

// A lookup that fails leaves that process out of the plan and says so;
// NotFound means gone.
class FailingLocator final : public PageLocator {
 public:
  FailingLocator(const PageLocator& inner, Pid bad, absl::Status st)
      : inner_(inner), bad_(bad), st_(std::move(st)) {}
  absl::StatusOr<Residency> Locate(Pid pid, Vaddr start, Vaddr end) const override {
    if (pid == bad_) return st_;
    return inner_.Locate(pid, start, end);
  }
  absl::Status ForEachPage(Pid pid, Vaddr start, Vaddr end,
                           absl::FunctionRef<bool(const PageInfo&)> fn) const override {
    if (pid == bad_) return st_;
    return inner_.ForEachPage(pid, start, end, fn);
  }

 private:
  const PageLocator& inner_;
  Pid bad_;
  absl::Status st_;
};

TEST(TickPlannerTest, FailedLookupsAreReportedAndLeftOut) {
  World w;
  w.mem.AddPages(99, At(0), At(8), kBasePageBytes, Tier::kSmem);
  w.mem.AddPages(98, At(0), At(8), kBasePageBytes, Tier::kSmem);
  std::vector<RangeStats> ranges = {R(0, 64, 8), R(100, 116, 4096), R(200, 232, 4),
                                    R(0, 8, 1e6, 98), R(0, 8, 1e6, 99)};
  std::sort(ranges.begin(), ranges.end(),
            [](const RangeStats& a, const RangeStats& b) {
              return std::tie(a.pid, a.start) < std::tie(b.pid, b.start);
            });
  TrackerSnapshot snap(1, ranges);
  FailingLocator gone(w.mem, 99, absl::NotFoundError("exited"));
  FailingLocator broken(gone, 98, absl::InternalError("EINVAL"));
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  TickPlanner p(c);
  FakeClock clock;
  auto plan = p.Plan(snap, broken, Inputs(2, 10 * kSecond), clock);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->gone_pids, std::vector<Pid>{99});
  ASSERT_EQ(plan->locate_errors.size(), 1u);
  EXPECT_EQ(plan->locate_errors[0].pid, 98);
  for (const PageMove& m : plan->exchange.Flatten()) EXPECT_EQ(m.pid, kPid);
  EXPECT_GT(plan->exchange.promote_bytes, 0u);
}

TEST(TickPlannerTest, FaintRangesAreNeverHot) {
  World w;
  TickPlannerConfig c;
  c.headroom_bytes = 4 * kMiB;
  c.min_hot_weight_per_mib = 1e9;  // everything is faint
  TickPlanner p(c);
  FakeClock clock;
  auto plan = p.Plan(w.Snap(), w.mem, Inputs(100, 10 * kSecond), clock);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->exchange.promote_bytes, 0u);
  EXPECT_EQ(plan->classes.hot_bytes, 0u);
}

TEST(TickPlannerTest, RejectsAZeroInterval) {
  World w;
  TickPlanner p(TickPlannerConfig{});
  FakeClock clock;
  TickInputs in = Inputs(2, 0);
  in.interval_ns = 0;
  EXPECT_FALSE(p.Plan(w.Snap(), w.mem, in, clock).ok());
}

}  // namespace
}  // namespace tiervm::placement

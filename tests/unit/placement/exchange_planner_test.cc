#include "placement/exchange_planner.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "placement/promotion_hold.h"
#include "test_util.h"

namespace tiervm::placement {
namespace {

using testing::At;
using testing::kMiB;

constexpr Pid kPid = 9;

RangeStats R(double a_mib, double b_mib, double weight, Pid pid = kPid) {
  return testing::R(a_mib, b_mib, weight, pid);
}

PlannerConfig Unlimited() {
  PlannerConfig c;
  c.rate_limit_mib_per_s = 1 << 20;
  return c;
}

// Replays `plan` against `fmem` and checks the overflow invariant at every
// prefix, the source tier of every move, and that no page moves twice.
void CheckPlan(const ExchangePlan& plan, const FmemState& fmem, const PageLocator& loc,
               const PlannerConfig& config) {
  int64_t free = static_cast<int64_t>(fmem.free_bytes);
  // Promotions leave the headroom free, or free FMEM as it is when it is
  // below (then they are exchanged one for one).
  const int64_t floor =
      std::min<int64_t>(free, static_cast<int64_t>(fmem.headroom_bytes));
  std::set<std::pair<Pid, Vaddr>> seen;
  uint64_t moved = 0;
  for (const PageMove& m : plan.Flatten()) {
    ASSERT_TRUE(seen.insert({m.pid, m.addr}).second) << "page planned twice";
    Tier now = m.dest_tier;
    ASSERT_TRUE(loc.ForEachPage(m.pid, m.addr, m.addr + 1, [&](const PageInfo& p) {
                     EXPECT_EQ(p.addr, m.addr);
                     EXPECT_EQ(p.bytes, m.bytes);
                     now = p.tier;
                     return false;
                   }).ok());
    ASSERT_NE(now, m.dest_tier) << "page already on its destination";
    if (m.dest_tier == Tier::kFmem) {
      EXPECT_EQ(m.dest_node, config.fmem_node);
      free -= static_cast<int64_t>(m.bytes);
      ASSERT_GE(free, floor) << "FMEM overflow";
    } else {
      EXPECT_EQ(m.dest_node, config.smem_node);
      free += static_cast<int64_t>(m.bytes);
    }
    ASSERT_GE(free, floor);
    moved += m.bytes;
  }
  EXPECT_EQ(moved, plan.moved_bytes());
  EXPECT_LE(moved, plan.budget_bytes);
  EXPECT_EQ(static_cast<uint64_t>(free), plan.fmem_free_after_bytes);
  // Each round: demotions then promotions, each sorted by (pid, addr).
  for (const ExchangeRound& r : plan.rounds) {
    auto sorted = [](const std::vector<PageMove>& v) {
      return std::is_sorted(v.begin(), v.end(), [](const PageMove& a, const PageMove& b) {
        return std::tie(a.pid, a.addr) < std::tie(b.pid, b.addr);
      });
    };
    EXPECT_TRUE(sorted(r.demotions));
    EXPECT_TRUE(sorted(r.promotions));
    for (const PageMove& m : r.demotions) EXPECT_EQ(m.dest_tier, Tier::kSmem);
    for (const PageMove& m : r.promotions) EXPECT_EQ(m.dest_tier, Tier::kFmem);
  }
}

absl::StatusOr<ExchangePlan> Plan(const TrackerSnapshot& snap, const PageLocator& loc,
                                  uint64_t cap, FmemState fmem, const PlannerConfig& config) {
  auto c = Classify(snap, loc, {cap, fmem.headroom_bytes});
  if (!c.ok()) return c.status();
  return PlanExchange(snap, *c, loc, fmem, config);
}

TEST(ExchangePlannerTest, SwapsHotSmemWithColdFmem) {
  // FMEM (8 MiB, full) holds the cold [4,8)... and [8,12); SMEM the hot [0,4).
  TrackerSnapshot snap(1, {R(0, 4, 400), R(4, 8, 0), R(8, 12, 100)});
  InMemoryPageLocator loc;
  loc.AddPages(kPid, At(0), At(4), kBasePageBytes, Tier::kSmem);
  loc.AddPages(kPid, At(4), At(8), kBasePageBytes, Tier::kFmem);
  loc.AddPages(kPid, At(8), At(12), kBasePageBytes, Tier::kFmem);
  const FmemState fmem{0, 0};
  auto plan = Plan(snap, loc, 8 * kMiB, fmem, Unlimited());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->promote_bytes, 4 * kMiB);
  EXPECT_EQ(plan->demote_bytes, 4 * kMiB);
  EXPECT_EQ(plan->stop, PlanStop::kDone);
  CheckPlan(*plan, fmem, loc, Unlimited());
  // Applying it puts the hot set on FMEM: a second plan has nothing to do.
  for (const PageMove& m : plan->Flatten()) ASSERT_TRUE(loc.Move(m.pid, m.addr, m.dest_tier).ok());
  auto again = Plan(snap, loc, 8 * kMiB, fmem, Unlimited());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->moved_bytes(), 0u);
}

// A 4 MiB range [0,4) whose page counts are `pages` (weight: their sum),
// [0,2) on FMEM and [2,4) on SMEM.
struct CountedRange {
  std::shared_ptr<PageHeatMap> pages = std::make_shared<PageHeatMap>();
  InMemoryPageLocator loc;
  CountedRange() {
    loc.AddPages(kPid, At(0), At(2), kBasePageBytes, Tier::kFmem);
    loc.AddPages(kPid, At(2), At(4), kBasePageBytes, Tier::kSmem);
  }
  void Count(Vaddr v, float count) { (*pages)[v / kBasePageBytes] = count; }
  TrackerSnapshot Snap() const {
    double weight = 0;
    for (const auto& [vpn, c] : *pages) weight += c;
    return TrackerSnapshot(1, {testing::WithCounts(R(0, 4, weight), *pages)},
                           PageHeat{{kPid, pages}});
  }
};

TEST(ExchangePlannerTest, PageResolvedRangeSwapsOnlyItsHotAndColdPages) {
  // FMEM full, nothing free; eight pages in the SMEM half are hot, one
  // FMEM page is warm; the target holds eight pages.
  CountedRange f;
  std::vector<Vaddr> hot;
  for (int i = 0; i < 8; ++i) {
    hot.push_back(At(2) + (37 * i + 5) * kBasePageBytes);
    f.Count(hot.back(), 20);
  }
  const Vaddr warm = At(0) + 7 * kBasePageBytes;
  f.Count(warm, 10);
  const TrackerSnapshot snap = f.Snap();
  InMemoryPageLocator& loc = f.loc;
  const FmemState fmem{0, 0};
  auto plan = Plan(snap, loc, 8 * kBasePageBytes, fmem, Unlimited());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->promote_bytes, 8 * kBasePageBytes);
  EXPECT_EQ(plan->demote_bytes, 8 * kBasePageBytes);
  CheckPlan(*plan, fmem, loc, Unlimited());
  std::set<Vaddr> promoted;
  for (const PageMove& m : plan->Flatten()) {
    if (m.dest_tier == Tier::kFmem) promoted.insert(m.addr);
    EXPECT_NE(m.addr, warm) << "the warm FMEM page is not the coldest";
  }
  EXPECT_EQ(promoted, std::set<Vaddr>(hot.begin(), hot.end()));
  for (const PageMove& m : plan->Flatten()) ASSERT_TRUE(loc.Move(m.pid, m.addr, m.dest_tier).ok());
  auto again = Plan(snap, loc, 8 * kBasePageBytes, fmem, Unlimited());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->moved_bytes(), 0u);
}

// At the cut of a page-resolved range a page's density moves with every
// sample: a promotion there must be worth page_exchange_gain times the
// page it displaces.
TEST(ExchangePlannerTest, PageResolvedExchangesNeedTheirGain) {
  // FMEM full.  On FMEM: 8 pages counted 12; on SMEM 8 pages counted 14
  // (hotter, but by less than 1.25x) and many cold pages counted once.
  CountedRange f;
  for (int i = 0; i < 8; ++i) {
    f.Count(At(0) + (11 * i + 1) * kBasePageBytes, 12);
    f.Count(At(2) + (13 * i + 2) * kBasePageBytes, 14);
  }
  for (int i = 0; i < 200; ++i) f.Count(At(0) + (300 + i) * kBasePageBytes, 1);
  const TrackerSnapshot snap = f.Snap();
  InMemoryPageLocator& loc = f.loc;
  // The target holds 8 pages: the hot set is the 8 SMEM pages.
  const FmemState fmem{0, 0};
  PlannerConfig cfg = Unlimited();
  auto c = Classify(snap, loc, {8 * kBasePageBytes, 0});
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->ranges[0].page_resolved);
  // The coldest FMEM pages, never counted, give way at once.
  auto plan = PlanExchange(snap, *c, loc, fmem, cfg);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->promote_bytes, 8 * kBasePageBytes);
  // With FMEM holding only the warm pages (the rest of [0,2) unmapped)
  // the hot pages must displace them, and gain too little.
  InMemoryPageLocator warm_only;
  for (int i = 0; i < 8; ++i) {
    warm_only.AddPages(kPid, At(0) + (11 * i + 1) * kBasePageBytes,
                       At(0) + (11 * i + 2) * kBasePageBytes, kBasePageBytes, Tier::kFmem);
  }
  warm_only.AddPages(kPid, At(2), At(4), kBasePageBytes, Tier::kSmem);
  auto c2 = Classify(snap, warm_only, {8 * kBasePageBytes, 0});
  ASSERT_TRUE(c2.ok());
  ASSERT_TRUE(c2->ranges[0].page_resolved);
  auto gated = PlanExchange(snap, *c2, warm_only, fmem, cfg);
  ASSERT_TRUE(gated.ok());
  EXPECT_EQ(gated->moved_bytes(), 0u);
  EXPECT_EQ(gated->stop, PlanStop::kNoGain);
  cfg.page_exchange_gain = 0;
  auto ungated = PlanExchange(snap, *c2, warm_only, fmem, cfg);
  ASSERT_TRUE(ungated.ok());
  EXPECT_EQ(ungated->promote_bytes, 8 * kBasePageBytes);
}

TEST(ExchangePlannerTest, RespectsTheRateLimit) {
  TrackerSnapshot snap(1, {R(0, 64, 6400), R(64, 128, 0)});
  InMemoryPageLocator loc;
  loc.AddPages(kPid, At(0), At(64), kBasePageBytes, Tier::kSmem);
  loc.AddPages(kPid, At(64), At(128), kBasePageBytes, Tier::kFmem);
  PlannerConfig config;
  config.rate_limit_mib_per_s = 20;
  config.interval_ns = 500'000'000;  // 10 MiB this tick
  const FmemState fmem{0, 0};
  auto plan = Plan(snap, loc, 64 * kMiB, fmem, config);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->budget_bytes, 10 * kMiB);
  EXPECT_EQ(plan->moved_bytes(), 10 * kMiB);  // 5 MiB each way
  EXPECT_EQ(plan->promote_bytes, plan->demote_bytes);
  EXPECT_EQ(plan->stop, PlanStop::kRateLimit);
  CheckPlan(*plan, fmem, loc, config);
}

TEST(ExchangePlannerTest, RestoresHeadroomBeforePromoting) {
  // The balloon just took FMEM: 0.5 MiB free, 4 MiB wanted.  Nothing is hot
  // on SMEM, yet the coldest FMEM pages go down until the watermark holds.
  TrackerSnapshot snap(1, {R(0, 8, 10), R(8, 16, 1000)});
  InMemoryPageLocator loc;
  loc.AddPages(kPid, At(0), At(8), kBasePageBytes, Tier::kFmem);
  loc.AddPages(kPid, At(8), At(16), kBasePageBytes, Tier::kFmem);
  const FmemState fmem{512 * 1024, 4 * kMiB};
  auto plan = Plan(snap, loc, 16 * kMiB, fmem, Unlimited());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->promote_bytes, 0u);
  EXPECT_EQ(plan->fmem_free_after_bytes, 4 * kMiB);
  for (const PageMove& m : plan->Flatten()) {
    EXPECT_LT(m.addr, At(8)) << "demoted a hot page";
  }
  CheckPlan(*plan, fmem, loc, Unlimited());
}

// Free FMEM a little under the headroom (the kernel took some, as it does
// all the time) is a dip the planner tolerates: promotions are exchanged one
// for one, no migration refills it.
TEST(ExchangePlannerTest, ExchangesOneForOneInTheTolerableDip) {
  TrackerSnapshot snap(1, {R(0, 4, 400), R(4, 16, 0)});
  InMemoryPageLocator loc;
  loc.AddPages(kPid, At(0), At(4), kBasePageBytes, Tier::kSmem);
  loc.AddPages(kPid, At(4), At(16), kBasePageBytes, Tier::kFmem);
  const FmemState fmem{1536 * 1024, 4 * kMiB};  // 1.5 of 4 MiB headroom free
  auto plan = Plan(snap, loc, 15 * kMiB, fmem, Unlimited());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->promote_bytes, 4 * kMiB);
  EXPECT_EQ(plan->demote_bytes, 4 * kMiB);
  EXPECT_EQ(plan->fmem_free_after_bytes, 1536u * 1024);
  CheckPlan(*plan, fmem, loc, Unlimited());
  // Below a quarter of the headroom it is restored first.
  const FmemState low{512 * 1024, 4 * kMiB};
  auto restore = Plan(snap, loc, 13 * kMiB, low, Unlimited());
  ASSERT_TRUE(restore.ok()) << restore.status();
  EXPECT_EQ(restore->demote_bytes, restore->promote_bytes + 3584u * 1024);
  EXPECT_EQ(restore->fmem_free_after_bytes, 4 * kMiB);
  CheckPlan(*restore, low, loc, Unlimited());
}

TEST(ExchangePlannerTest, StopsWhenNothingColdIsLeftOnFmem) {
  TrackerSnapshot snap(1, {R(0, 4, 400), R(4, 8, 300)});
  InMemoryPageLocator loc;
  loc.AddPages(kPid, At(0), At(4), kBasePageBytes, Tier::kSmem);
  loc.AddPages(kPid, At(4), At(8), kBasePageBytes, Tier::kFmem);
  // FMEM capacity 8 MiB but only 2 MiB free: hot [4,8) stays, so only 2 MiB
  // of [0,4) can come up.
  const FmemState fmem{2 * kMiB, 0};
  auto plan = Plan(snap, loc, 8 * kMiB, fmem, Unlimited());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->promote_bytes, 2 * kMiB);
  EXPECT_EQ(plan->stop, PlanStop::kNoDemotable);
  CheckPlan(*plan, fmem, loc, Unlimited());
}

// The gain gate: an exchange costs two copies, so a promotion that has to
// displace FMEM pages needs min_exchange_gain times their weight per
// byte.  At 2 a Zipf tail re-ranked by every fresh sample (300 vs 200) is
// left alone, three times as dense is exchanged, a promotion into free
// FMEM is never gated.  Off by default.
TEST(ExchangePlannerTest, ExchangesOnlyWhatGainsEnough) {
  TrackerSnapshot snap(1, {R(0, 4, 300), R(4, 8, 200)});
  InMemoryPageLocator loc;
  loc.AddPages(kPid, At(0), At(4), kBasePageBytes, Tier::kSmem);
  loc.AddPages(kPid, At(4), At(8), kBasePageBytes, Tier::kFmem);
  PlannerConfig config = Unlimited();
  ASSERT_EQ(config.min_exchange_gain, 0.0) << "the shipped default: off";
  const FmemState full{0, 0};
  auto off = Plan(snap, loc, 4 * kMiB, full, config);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->promote_bytes, 4 * kMiB);
  config.min_exchange_gain = 2;
  auto plan = Plan(snap, loc, 4 * kMiB, full, config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->moved_bytes(), 0u);
  EXPECT_EQ(plan->stop, PlanStop::kNoGain);
  EXPECT_EQ(plan->gain_skipped_bytes, 4 * kMiB);
  // Gain 1: any gain at all.
  config.min_exchange_gain = 1;
  plan = Plan(snap, loc, 4 * kMiB, full, config);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->promote_bytes, 4 * kMiB);
  EXPECT_EQ(plan->gain_skipped_bytes, 0u);
  CheckPlan(*plan, full, loc, config);
  // Three times as dense passes the default gate.
  config.min_exchange_gain = 2;
  TrackerSnapshot hot(1, {R(0, 4, 600), R(4, 8, 200)});
  plan = Plan(hot, loc, 4 * kMiB, full, config);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->promote_bytes, 4 * kMiB);
  EXPECT_EQ(plan->stop, PlanStop::kDone);
  // Free FMEM: the 300-weight range comes up with no demotion, ungated.
  const FmemState room{6 * kMiB, 0};
  plan = Plan(snap, loc, 10 * kMiB, room, config);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->promote_bytes, 4 * kMiB);
  EXPECT_EQ(plan->demote_bytes, 0u);
  EXPECT_EQ(plan->gain_skipped_bytes, 0u);
  CheckPlan(*plan, room, loc, config);
  // The gain must be a finite number >= 1.
  for (double bad : {0.5, std::numeric_limits<double>::infinity(),
                     std::numeric_limits<double>::quiet_NaN()}) {
    config.min_exchange_gain = bad;
    EXPECT_TRUE(absl::IsInvalidArgument(Plan(snap, loc, 4 * kMiB, full, config).status()))
        << bad;
  }
}

// Records which ranges the planner listed page by page.
class CountingLocator final : public PageLocator {
 public:
  explicit CountingLocator(const PageLocator& inner) : inner_(inner) {}
  absl::StatusOr<Residency> Locate(Pid pid, Vaddr start, Vaddr end) const override {
    return inner_.Locate(pid, start, end);
  }
  absl::Status ForEachPage(Pid pid, Vaddr start, Vaddr end,
                           absl::FunctionRef<bool(const PageInfo&)> fn) const override {
    listed.push_back(start);
    return inner_.ForEachPage(pid, start, end, fn);
  }
  mutable std::vector<Vaddr> listed;

 private:
  const PageLocator& inner_;
};

// The hot set [0,4) was promoted an epoch ago and weighs half of what data
// written once [8,16), seen just now on SMEM, weighs.  Held, its pages
// stay: the planner displaces the cold [4,8) only, and stops when only held
// pages are left to displace.
TEST(ExchangePlannerTest, HeldPagesAreNotDemoted) {
  TrackerSnapshot snap(1, {R(0, 4, 400), R(4, 8, 0), R(8, 16, 1600)});
  InMemoryPageLocator loc;
  loc.AddPages(kPid, At(0), At(4), kBasePageBytes, Tier::kFmem);
  loc.AddPages(kPid, At(4), At(8), kBasePageBytes, Tier::kFmem);
  loc.AddPages(kPid, At(8), At(16), kBasePageBytes, Tier::kSmem);
  PromotionHold hold;
  std::vector<PageMove> promoted;
  for (Vaddr a = At(0); a < At(4); a += kBasePageBytes) {
    promoted.push_back({kPid, a, kBasePageBytes, Tier::kFmem, 0});
  }
  hold.Add(promoted, 3);
  EXPECT_EQ(hold.held_bytes(), 4 * kMiB);
  EXPECT_EQ(hold.spans(), 1u);
  const FmemState fmem{0, 0};
  auto c = Classify(snap, loc, {8 * kMiB, 0});
  ASSERT_TRUE(c.ok());
  auto plan = PlanExchange(snap, *c, loc, fmem, Unlimited(), &hold);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->demote_bytes, 4 * kMiB);
  EXPECT_EQ(plan->promote_bytes, 4 * kMiB);
  EXPECT_EQ(plan->stop, PlanStop::kNoDemotable);
  for (const PageMove& m : plan->Flatten()) {
    if (m.dest_tier == Tier::kSmem) {
      EXPECT_GE(m.addr, At(4)) << "demoted a held page";
    }
  }
  EXPECT_EQ(plan->held_skipped_bytes, 4 * kMiB);
  CheckPlan(*plan, fmem, loc, Unlimited());
  // Without the hold, the once-written data displaces the hot set too.
  auto unheld = PlanExchange(snap, *c, loc, fmem, Unlimited());
  ASSERT_TRUE(unheld.ok());
  EXPECT_EQ(unheld->demote_bytes, 8 * kMiB);
  // Expired, the hold lets go.
  hold.Expire(3);
  EXPECT_EQ(hold.held_bytes(), 0u);
}

TEST(PromotionHoldTest, SpansCoalesceSplitAndExpire) {
  PromotionHold hold;
  auto moves = [](Vaddr a, Vaddr b, Tier t = Tier::kFmem, Pid pid = kPid) {
    std::vector<PageMove> v;
    for (Vaddr x = a; x < b; x += kBasePageBytes) v.push_back({pid, x, kBasePageBytes, t, 0});
    return v;
  };
  hold.Add(moves(At(0), At(2)), 5);
  hold.Add(moves(At(0), At(2), Tier::kSmem), 9);  // demotions are not held
  EXPECT_EQ(hold.spans(), 1u);
  EXPECT_TRUE(hold.Held(kPid, At(1), kBasePageBytes));
  EXPECT_FALSE(hold.Held(kPid, At(2), kBasePageBytes));
  EXPECT_FALSE(hold.Held(kPid + 1, At(1), kBasePageBytes));
  EXPECT_TRUE(hold.Held(kPid, At(0) - kBasePageBytes, 2 * kBasePageBytes));  // overlaps
  // A later hold of the middle splits the older span.
  hold.Add(moves(At(0.5), At(1)), 8);
  EXPECT_EQ(hold.spans(), 3u);
  EXPECT_EQ(hold.held_bytes(), 2 * kMiB);
  hold.Expire(5);
  EXPECT_EQ(hold.held_bytes(), kMiB / 2);
  EXPECT_TRUE(hold.Held(kPid, At(0.5), kBasePageBytes));
  EXPECT_FALSE(hold.Held(kPid, At(0), kBasePageBytes));
  // Released (a promotion that did not apply): the span is cut.
  hold.Add(moves(At(2), At(3)), 9);
  hold.Release(moves(At(2.25), At(2.5)));
  hold.Release(moves(At(2.5), At(2.75), Tier::kSmem));  // not a promotion: no effect
  EXPECT_FALSE(hold.Held(kPid, At(2.25), kBasePageBytes));
  EXPECT_TRUE(hold.Held(kPid, At(2), kBasePageBytes));
  EXPECT_TRUE(hold.Held(kPid, At(2.5), kBasePageBytes));
  EXPECT_EQ(hold.held_bytes(), kMiB / 2 + 3 * kMiB / 4);
  hold.Release(moves(At(2), At(3)));
  EXPECT_EQ(hold.held_bytes(), kMiB / 2);
  hold.Add(moves(At(4), At(5), Tier::kFmem, kPid + 1), 9);
  hold.Forget(kPid);
  EXPECT_EQ(hold.held_bytes(), kMiB);
  hold.Expire(9);
  EXPECT_EQ(hold.spans(), 0u);
}

TEST(ExchangePlannerTest, ListsDemoteCandidatesOnlyAsFarAsNeeded) {
  // FMEM holds three cold ranges (coldest [8,12)) and the hot [12,16);
  // FMEM capacity 4 MiB, so all three cold ranges are demote candidates.
  TrackerSnapshot snap(1, {R(0, 4, 2), R(4, 8, 1), R(8, 12, 0), R(12, 16, 1000)});
  InMemoryPageLocator loc;
  loc.AddPages(kPid, At(0), At(16), kBasePageBytes, Tier::kFmem);
  CountingLocator counting(loc);
  auto classes = Classify(snap, counting, {4 * kMiB, 0});
  ASSERT_TRUE(classes.ok());
  ASSERT_EQ(classes->demote.size(), 3u);
  // Nothing to promote, FMEM above the watermark: no page is listed.
  auto idle = PlanExchange(snap, *classes, counting, FmemState{1 * kMiB, 1 * kMiB}, Unlimited());
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle->moved_bytes(), 0u);
  EXPECT_TRUE(counting.listed.empty());
  // The watermark wants 2 MiB: only the coldest range is listed.
  const FmemState low{0, 2 * kMiB};
  auto plan = PlanExchange(snap, *classes, counting, low, Unlimited());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->demote_bytes, 2 * kMiB);
  EXPECT_EQ(counting.listed, std::vector<Vaddr>{At(8)});
  for (const PageMove& m : plan->Flatten()) {
    EXPECT_GE(m.addr, At(8));
    EXPECT_LT(m.addr, At(12));
  }
  CheckPlan(*plan, low, loc, Unlimited());
}

TEST(ExchangePlannerTest, ThpMovesWholeOrNotAtAll) {
  // Two hot THPs on SMEM: [0,2) used evenly, [2,4) only in its first 256 KiB.
  RangeStats even = R(0, 2, 80);
  RangeStats skewed = R(2, 4, 80);
  skewed.sub_weight = {80, 0, 0, 0, 0, 0, 0, 0};
  TrackerSnapshot snap(1, {even, skewed, R(4, 8, 0)});
  InMemoryPageLocator loc;
  loc.AddPages(kPid, At(0), At(4), kHugePageBytes, Tier::kSmem);
  loc.AddPages(kPid, At(4), At(8), kHugePageBytes, Tier::kFmem);
  const FmemState fmem{0, 0};
  auto plan = Plan(snap, loc, 4 * kMiB, fmem, Unlimited());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->thp_skipped_pages, 1u);
  const auto moves = plan->Flatten();
  ASSERT_EQ(moves.size(), 2u);  // one cold THP down, the even one up
  EXPECT_EQ(moves[0].dest_tier, Tier::kSmem);
  EXPECT_EQ(moves[0].bytes, kHugePageBytes);
  EXPECT_EQ(moves[1].addr, At(0));
  EXPECT_EQ(moves[1].bytes, kHugePageBytes);
  CheckPlan(*plan, fmem, loc, Unlimited());

  // With too little weight to judge, the skewed THP counts as even.
  PlannerConfig lax = Unlimited();
  lax.thp_min_weight = 1000;
  EXPECT_FALSE(ThpTooUneven(snap, kPid, At(2), lax));
  EXPECT_TRUE(ThpTooUneven(snap, kPid, At(2), Unlimited()));
  EXPECT_FALSE(ThpTooUneven(snap, kPid, At(0), Unlimited()));
}

TEST(ExchangePlannerTest, RejectsBadConfig) {
  TrackerSnapshot snap;
  InMemoryPageLocator loc;
  PlannerConfig bad;
  bad.interval_ns = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(
      PlanExchange(snap, Classification(), loc, FmemState(), bad).status()));
}

TEST(ExchangePlannerTest, RandomScenariosNeverOverflowFmem) {
  for (int seed = 1; seed <= 100; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<RangeStats> ranges;
    InMemoryPageLocator loc;
    uint64_t fmem_used = 0;
    for (Pid pid = 1; pid <= 3; ++pid) {
      double pos = 0;
      for (int i = 0; i < 12; ++i) {
        const double len = 2.0 * (1 + rng() % 4);
        RangeStats r = R(pos, pos + len, static_cast<double>(rng() % 500), pid);
        for (double& w : r.sub_weight) w = static_cast<double>(rng() % 100);
        r.weight = 0;
        for (double w : r.sub_weight) r.weight += w;
        if (rng() % 4 == 0) r.weight = 0, r.sub_weight.fill(0);
        ranges.push_back(r);
        for (double p = pos; p < pos + len; p += 2) {
          if (rng() % 5 == 0) continue;
          const Tier tier = rng() % 2 ? Tier::kFmem : Tier::kSmem;
          loc.AddPages(pid, At(p), At(p + 2), rng() % 3 ? kBasePageBytes : kHugePageBytes,
                       tier);
          if (tier == Tier::kFmem) fmem_used += 2 * kMiB;
        }
        pos += len + 2 * (rng() % 2);
      }
    }
    TrackerSnapshot snap(1, ranges);
    const uint64_t cap = fmem_used + (rng() % 16) * kMiB;
    FmemState fmem{cap - fmem_used, (rng() % 8) * kMiB};
    if (fmem.headroom_bytes > cap) fmem.headroom_bytes = cap;
    PlannerConfig config;
    config.rate_limit_mib_per_s = static_cast<double>(rng() % 200);
    config.round_bytes = (1 + rng() % 16) * kMiB;
    config.thp_max_unevenness = 1 + (rng() % 6);
    auto plan = Plan(snap, loc, cap, fmem, config);
    ASSERT_TRUE(plan.ok()) << plan.status();
    CheckPlan(*plan, fmem, loc, config);
    if (HasFailure()) {
      ADD_FAILURE() << "seed " << seed;
      return;
    }
  }
}

}  // namespace
}  // namespace tiervm::placement

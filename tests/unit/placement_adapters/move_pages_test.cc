// MovePagesExecutor and MovePagesLocator against FakePageMoveSyscall.
#include <algorithm>
#include <cerrno>
#include <random>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/adapters/fake_move_pages.h"
#include "daemon/adapters/move_pages.h"
#include "placement/classifier.h"
#include "placement/exchange_planner.h"
#include "placement/page_locator.h"
#include "placement/snapshot.h"

namespace tiervm::adapters {
namespace {

using placement::ExchangePlan;
using placement::ExchangeRound;
using placement::kBasePageBytes;
using placement::kHugePageBytes;
using placement::PageMove;
using placement::Tier;

constexpr int kFmem = 0, kSmem = 1;
constexpr uint64_t kPage = kBasePageBytes;
constexpr Vaddr kBase = 0x7f0000000000ull;

Vaddr P(int i) { return kBase + static_cast<Vaddr>(i) * kPage; }

PageMove Demote(Pid pid, int i, uint64_t bytes = kPage) {
  return PageMove{pid, P(i), bytes, Tier::kSmem, kSmem};
}
PageMove Promote(Pid pid, int i, uint64_t bytes = kPage) {
  return PageMove{pid, P(i), bytes, Tier::kFmem, kFmem};
}

// A fake with FMEM of `fmem_pages`, SMEM of `smem_pages`; pid 1 has pages
// 0..hot-1 on SMEM and hot..hot+cold-1 on FMEM.
FakePageMoveSyscall Fake(int fmem_pages, int smem_pages, int hot, int cold) {
  FakePageMoveSyscall fake({static_cast<uint64_t>(fmem_pages) * kPage,
                            static_cast<uint64_t>(smem_pages) * kPage});
  for (int i = 0; i < hot; ++i) fake.AddPage(1, P(i), kPage, kSmem);
  for (int i = hot; i < hot + cold; ++i) fake.AddPage(1, P(i), kPage, kFmem);
  return fake;
}

// One round: demote `cold` FMEM pages, promote `hot` SMEM pages.
ExchangePlan SwapPlan(int hot, int cold) {
  ExchangePlan plan;
  ExchangeRound r;
  for (int i = hot; i < hot + cold; ++i) r.demotions.push_back(Demote(1, i));
  for (int i = 0; i < hot; ++i) r.promotions.push_back(Promote(1, i));
  plan.rounds.push_back(r);
  return plan;
}

// A MoverConfig with these batch bounds (0 bytes: no byte bound).
MoverConfig Batches(size_t pages, uint64_t bytes = 0) {
  MoverConfig c;
  c.max_batch_pages = pages;
  c.max_batch_bytes = bytes;
  return c;
}

// Installs a check that FMEM never holds more than `limit` bytes.
void GuardFmem(FakePageMoveSyscall& fake, uint64_t limit) {
  fake.on_move = [&fake, limit] { ASSERT_LE(fake.used_bytes(kFmem), limit); };
}

TEST(MovePagesExecutor, DemotesBeforePromotingAndReports) {
  FakePageMoveSyscall fake = Fake(4, 8, 4, 4);  // FMEM full
  GuardFmem(fake, 4 * kPage);
  MovePagesExecutor exec(fake, {});
  MoverResult r = exec.Execute(SwapPlan(4, 4));
  EXPECT_EQ(r.stop, MoverStop::kDone);
  EXPECT_EQ(r.report.planned_moves, 8u);
  EXPECT_EQ(r.report.applied_moves, 8u);
  EXPECT_EQ(r.report.planned_bytes, 8 * kPage);
  EXPECT_EQ(r.report.applied_bytes, 8 * kPage);
  EXPECT_EQ(r.report.skipped + r.report.busy + r.report.gone + r.report.no_mem, 0u);
  ASSERT_EQ(fake.calls().size(), 2u);
  EXPECT_EQ(fake.calls()[0].dest_node, kSmem);
  EXPECT_EQ(fake.calls()[1].dest_node, kFmem);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(fake.NodeOf(1, P(i)), kFmem);
  for (int i = 4; i < 8; ++i) EXPECT_EQ(fake.NodeOf(1, P(i)), kSmem);
  EXPECT_EQ(fake.capacity_refusals(), 0u);
}

TEST(MovePagesExecutor, BatchesByDestinationPidAndSize) {
  FakePageMoveSyscall fake({64 * kPage, 64 * kPage});
  for (int i = 0; i < 5; ++i) fake.AddPage(1, P(i), kPage, kFmem);
  for (int i = 0; i < 3; ++i) fake.AddPage(2, P(i), kPage, kFmem);
  ExchangePlan plan;
  ExchangeRound r;
  // Deliberately unsorted, and one move to a second SMEM-like node order.
  for (int i = 4; i >= 0; --i) r.demotions.push_back(Demote(1, i));
  for (int i = 0; i < 3; ++i) r.demotions.push_back(Demote(2, i));
  plan.rounds.push_back(r);
  MovePagesExecutor exec(fake, Batches(2));
  MoverResult res = exec.Execute(plan);
  EXPECT_EQ(res.report.applied_moves, 8u);
  // pid 1: 2+2+1, pid 2: 2+1.
  std::vector<std::pair<Pid, size_t>> calls;
  for (const auto& c : fake.calls()) calls.emplace_back(c.pid, c.pages);
  EXPECT_THAT(calls, ::testing::ElementsAre(std::pair<Pid, size_t>{1, 2}, std::pair<Pid, size_t>{1, 2},
                                            std::pair<Pid, size_t>{1, 1}, std::pair<Pid, size_t>{2, 2},
                                            std::pair<Pid, size_t>{2, 1}));
  EXPECT_EQ(res.syscalls, 5u);
}

TEST(MovePagesExecutor, BusyDemotionSkipsPromotionsItWouldPayFor) {
  FakePageMoveSyscall fake = Fake(4, 8, 4, 4);  // FMEM full
  GuardFmem(fake, 4 * kPage);
  fake.FailPage(1, P(5), EBUSY);
  MovePagesExecutor exec(fake, {});
  MoverResult r = exec.Execute(SwapPlan(4, 4));
  EXPECT_EQ(r.report.busy, 1u);
  EXPECT_EQ(r.report.skipped, 1u);  // one page of FMEM short: one promotion fewer
  EXPECT_EQ(r.report.applied_moves, 3u + 3u);
  EXPECT_EQ(r.report.applied_bytes, 6 * kPage);
  ASSERT_EQ(r.retry.size(), 1u);
  EXPECT_EQ(r.retry[0], Demote(1, 5));
  EXPECT_EQ(fake.capacity_refusals(), 0u);
  EXPECT_EQ(fake.used_bytes(kFmem), 4 * kPage);
}

TEST(MovePagesExecutor, FailedDemotionsOfARoundSkipItsPromotions) {
  FakePageMoveSyscall fake = Fake(4, 8, 4, 4);
  GuardFmem(fake, 4 * kPage);
  for (int i = 4; i < 8; ++i) fake.FailPage(1, P(i), EAGAIN);
  ExchangePlan plan = SwapPlan(4, 4);
  MovePagesExecutor exec(fake, {});
  MoverResult r = exec.Execute(plan);
  EXPECT_EQ(r.report.busy, 4u);
  EXPECT_EQ(r.report.skipped, 4u);
  EXPECT_EQ(r.report.applied_moves, 0u);
  // Only the demotion call was made.
  ASSERT_EQ(fake.calls().size(), 1u);
  EXPECT_EQ(fake.capacity_refusals(), 0u);
}

TEST(MovePagesExecutor, DeficitCarriesIntoLaterRounds) {
  // Round 1 demotes 2 and promotes 2; its demotion of page 3 fails, so a
  // promotion is skipped; the skipped promotion pays the deficit back, so
  // round 2 runs in full.
  FakePageMoveSyscall fake = Fake(4, 16, 4, 4);
  GuardFmem(fake, 4 * kPage);
  fake.FailPage(1, P(5), ENOENT);
  ExchangePlan plan;
  plan.rounds.push_back({{Demote(1, 4), Demote(1, 5)}, {Promote(1, 0), Promote(1, 1)}});
  plan.rounds.push_back({{Demote(1, 6), Demote(1, 7)}, {Promote(1, 2), Promote(1, 3)}});
  MovePagesExecutor exec(fake, {});
  MoverResult r = exec.Execute(plan);
  EXPECT_EQ(r.report.gone, 1u);
  EXPECT_EQ(r.report.skipped, 1u);
  EXPECT_EQ(r.report.applied_moves, 6u);
  EXPECT_EQ(fake.NodeOf(1, P(0)), kSmem);  // the skipped one: first in order
  EXPECT_EQ(fake.NodeOf(1, P(2)), kFmem);
  EXPECT_EQ(fake.NodeOf(1, P(3)), kFmem);
}

TEST(MovePagesExecutor, PromotionFailuresAreGoneOrOther) {
  FakePageMoveSyscall fake = Fake(8, 8, 4, 0);  // FMEM empty: no demotions
  fake.FailPage(1, P(1), EFAULT);
  fake.FailPage(1, P(2), EACCES);  // shared page
  ExchangePlan plan;
  plan.rounds.push_back({{}, {Promote(1, 0), Promote(1, 1), Promote(1, 2), Promote(1, 3)}});
  MovePagesExecutor exec(fake, {});
  MoverResult r = exec.Execute(plan);
  EXPECT_EQ(r.report.applied_moves, 2u);
  EXPECT_EQ(r.report.gone, 1u);
  EXPECT_EQ(r.other_failed, 1u);
  EXPECT_EQ(r.report.planned_moves, 4u);
  EXPECT_THAT(r.unapplied_promotions, ::testing::UnorderedElementsAre(Promote(1, 1), Promote(1, 2)));
}

TEST(MovePagesExecutor, NoMemoryStopsEverything) {
  // SMEM has room for 1 page: the second demotion gets -ENOMEM.
  FakePageMoveSyscall fake({4 * kPage, 2 * kPage});
  for (int i = 0; i < 1; ++i) fake.AddPage(1, P(i), kPage, kSmem);
  for (int i = 1; i < 5; ++i) fake.AddPage(1, P(i), kPage, kFmem);
  ExchangePlan plan;
  plan.rounds.push_back({{Demote(1, 1), Demote(1, 2)}, {Promote(1, 0)}});
  plan.rounds.push_back({{Demote(1, 3), Demote(1, 4)}, {}});
  MovePagesExecutor exec(fake, {});
  MoverResult r = exec.Execute(plan);
  EXPECT_EQ(r.stop, MoverStop::kNoMemory);
  EXPECT_EQ(r.report.applied_moves, 1u);
  EXPECT_EQ(r.report.no_mem, 1u);
  EXPECT_EQ(r.not_attempted, 3u);  // the promotion and round 2
  EXPECT_EQ(fake.calls().size(), 1u);
  EXPECT_EQ(r.report.applied_moves + r.report.no_mem + r.not_attempted, r.report.planned_moves);
}

TEST(MovePagesExecutor, WholeCallErrors) {
  FakePageMoveSyscall fake({16 * kPage, 16 * kPage});
  for (int i = 0; i < 2; ++i) fake.AddPage(1, P(i), kPage, kFmem);
  for (int i = 0; i < 2; ++i) fake.AddPage(2, P(i), kPage, kFmem);
  ExchangePlan plan;
  plan.rounds.push_back({{Demote(1, 0), Demote(1, 1), Demote(2, 0), Demote(2, 1)}, {}});
  fake.RemoveProcess(1);  // ESRCH
  MovePagesExecutor exec(fake, {});
  MoverResult r = exec.Execute(plan);
  EXPECT_EQ(r.report.gone, 2u);
  EXPECT_EQ(r.report.applied_moves, 2u);
  EXPECT_EQ(r.stop, MoverStop::kDone);

  fake.FailCall(2, EPERM, 1);
  plan.rounds = {{{Demote(2, 0)}, {}}};
  plan.rounds[0].demotions[0].dest_node = kFmem;  // move back: EPERM first
  r = exec.Execute(plan);
  EXPECT_EQ(r.other_failed, 1u);

  fake.FailCall(2, ENOMEM, 1);
  r = exec.Execute(plan);
  EXPECT_EQ(r.stop, MoverStop::kNoMemory);
  EXPECT_EQ(r.report.no_mem, 1u);

  plan.rounds[0].demotions[0].dest_node = 7;  // no such node: ENODEV
  plan.rounds[0].promotions = {Promote(2, 1)};
  r = exec.Execute(plan);
  EXPECT_EQ(r.stop, MoverStop::kFatal);
  EXPECT_FALSE(r.fatal.ok());
  EXPECT_EQ(r.not_attempted, 1u);
}

TEST(MovePagesExecutor, BatchesAreBoundedInBytesToo) {
  FakePageMoveSyscall fake({64 * kPage, 64 * kPage});
  for (int i = 0; i < 6; ++i) fake.AddPage(1, P(i), kPage, kFmem);
  ExchangePlan plan;
  ExchangeRound r;
  for (int i = 0; i < 6; ++i) r.demotions.push_back(Demote(1, i));
  plan.rounds.push_back(r);
  MovePagesExecutor exec(fake, Batches(100, 2 * kPage + 1));
  MoverResult res = exec.Execute(plan);
  EXPECT_EQ(res.report.applied_moves, 6u);
  EXPECT_EQ(res.syscalls, 3u);  // 2 + 2 + 2 pages
  // One page larger than the bound still goes, alone.
  FakePageMoveSyscall big({4 * kHugePageBytes, 4 * kHugePageBytes});
  big.AddPage(1, kBase, kHugePageBytes, kFmem);
  ExchangePlan p2;
  p2.rounds.push_back({{PageMove{1, kBase, kHugePageBytes, Tier::kSmem, kSmem}}, {}});
  MovePagesExecutor exec2(big, Batches(1024, kPage));
  EXPECT_EQ(exec2.Execute(p2).report.applied_moves, 1u);
}

// Out of budget among a round's demotions: the promotions that the applied
// demotions make room for still go (an exchange half done is migration
// that bought nothing), the rest of the plan does not.
TEST(MovePagesExecutor, OutOfBudgetFinishesTheExchangesItStarted) {
  FakePageMoveSyscall fake = Fake(8, 16, 4, 4);
  fake.AddPage(1, P(8), kPage, kSmem);
  GuardFmem(fake, 8 * kPage);
  int calls = 0;
  MoverConfig cfg;
  cfg.max_batch_pages = 2;
  // Allow one move_pages call, then say the CPU allowance is spent.
  cfg.out_of_budget = [&calls] { return calls++ >= 1; };
  MovePagesExecutor exec(fake, cfg);
  ExchangePlan plan = SwapPlan(4, 4);
  ExchangeRound second;
  second.promotions.push_back(Promote(1, 8));
  plan.rounds.push_back(second);
  MoverResult r = exec.Execute(plan);
  EXPECT_EQ(r.stop, MoverStop::kBudget);
  EXPECT_EQ(r.syscalls, 2u);  // two demotions, then the two promotions they paid for
  EXPECT_EQ(r.report.applied_to_smem_bytes, 2 * kPage);
  EXPECT_EQ(r.report.applied_to_fmem_bytes, 2 * kPage);
  EXPECT_EQ(r.report.skipped, 2u);        // the promotions of the demotions not done
  EXPECT_EQ(r.not_attempted, 2u + 1u);    // those demotions; the second round
  EXPECT_EQ(fake.capacity_refusals(), 0u);
  // Every promotion that did not apply is listed, skipped or not tried.
  std::vector<PageMove> unapplied = r.unapplied_promotions;
  std::sort(unapplied.begin(), unapplied.end(),
            [](const PageMove& a, const PageMove& b) { return a.addr < b.addr; });
  std::vector<PageMove> want;
  for (int i = 0; i < 4; ++i) {
    if (fake.NodeOf(1, P(i)) == kSmem) want.push_back(Promote(1, i));
  }
  want.push_back(Promote(1, 8));
  EXPECT_EQ(unapplied, want);
  // Out of budget among the promotions: they stop there.
  FakePageMoveSyscall fake2 = Fake(8, 8, 4, 4);
  calls = 0;
  cfg.out_of_budget = [&calls] { return calls++ >= 3; };
  MovePagesExecutor exec2(fake2, cfg);
  MoverResult r2 = exec2.Execute(SwapPlan(4, 4));
  EXPECT_EQ(r2.stop, MoverStop::kBudget);
  EXPECT_EQ(r2.report.applied_to_smem_bytes, 4 * kPage);
  EXPECT_EQ(r2.report.applied_to_fmem_bytes, 2 * kPage);
  EXPECT_EQ(r2.not_attempted, 2u);
}

TEST(MovePagesExecutor, HugePagesMoveWhole) {
  FakePageMoveSyscall fake({4 * kHugePageBytes, 4 * kHugePageBytes});
  fake.AddPage(1, kBase, kHugePageBytes, kSmem);
  fake.AddPage(1, kBase + kHugePageBytes, kHugePageBytes, kFmem);
  ExchangePlan plan;
  plan.rounds.push_back({{PageMove{1, kBase + kHugePageBytes, kHugePageBytes, Tier::kSmem, kSmem}},
                         {PageMove{1, kBase, kHugePageBytes, Tier::kFmem, kFmem}}});
  MovePagesExecutor exec(fake, {});
  MoverResult r = exec.Execute(plan);
  EXPECT_EQ(r.report.applied_bytes, 2 * kHugePageBytes);
  EXPECT_EQ(r.report.applied_to_fmem_bytes, kHugePageBytes);
  EXPECT_EQ(r.report.applied_to_smem_bytes, kHugePageBytes);
  EXPECT_EQ(fake.NodeOf(1, kBase + 4096), kFmem);
}

// Random scenarios through the real classifier and planner: whatever
// fails, FMEM free never drops below min(initial free, headroom) and the
// report adds up.
TEST(MovePagesExecutor, RandomPlansWithFailuresNeverOverflowFmem) {
  uint64_t total_demotions = 0, total_skipped = 0, total_failed = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    const int ranges = 8;
    const int pages_per_range = 64;
    const uint64_t range_bytes = pages_per_range * kPage;
    std::vector<placement::RangeStats> stats;
    placement::InMemoryPageLocator loc;
    const uint64_t fmem_cap = (ranges / 2) * range_bytes + (rng() % 16) * kPage;
    uint64_t fmem_used = 0;
    std::vector<std::tuple<Vaddr, Tier>> layout;
    for (int i = 0; i < ranges; ++i) {
      placement::RangeStats r;
      r.pid = 1;
      r.start = kBase + static_cast<uint64_t>(i) * range_bytes;
      r.end = r.start + range_bytes;
      r.weight = static_cast<double>(rng() % 1000);
      r.sub_weight.fill(r.weight / placement::kSubBlocks);
      stats.push_back(r);
      for (int p = 0; p < pages_per_range; ++p) {
        Tier t = (rng() % 2 == 0 && fmem_used + kPage <= fmem_cap) ? Tier::kFmem : Tier::kSmem;
        if (t == Tier::kFmem) fmem_used += kPage;
        layout.emplace_back(r.start + static_cast<uint64_t>(p) * kPage, t);
      }
    }
    FakePageMoveSyscall fake({fmem_cap, 1ull << 30});
    for (auto [addr, tier] : layout) {
      loc.AddPages(1, addr, addr + kPage, kPage, tier);
      fake.AddPage(1, addr, kPage, tier == Tier::kFmem ? kFmem : kSmem);
    }
    placement::TrackerSnapshot snap(1, stats);
    const placement::FmemState fmem{fmem_cap - fmem_used, (rng() % 8) * kPage};
    auto cls = placement::Classify(snap, loc, {fmem_cap, fmem.headroom_bytes});
    ASSERT_TRUE(cls.ok()) << cls.status();
    placement::PlannerConfig pc;
    pc.rate_limit_mib_per_s = 1 << 20;
    pc.round_bytes = (1 + rng() % 16) * kPage;
    auto plan = placement::PlanExchange(snap, *cls, loc, fmem, pc);
    ASSERT_TRUE(plan.ok()) << plan.status();
    // Random failures on 10% of the planned pages.
    for (const PageMove& m : plan->Flatten()) {
      if (rng() % 10 == 0) {
        const int errs[] = {EBUSY, EAGAIN, EFAULT, ENOENT, EACCES};
        fake.FailPage(m.pid, m.addr, errs[rng() % 5]);
      }
    }
    const uint64_t floor = std::min(fmem.free_bytes, fmem.headroom_bytes);
    fake.on_move = [&] { ASSERT_GE(fake.free_bytes(kFmem), floor); };
    MovePagesExecutor exec(fake, Batches(1 + rng() % 32));
    MoverResult r = exec.Execute(*plan);
    ASSERT_EQ(r.stop, MoverStop::kDone);
    EXPECT_EQ(fake.capacity_refusals(), 0u);
    EXPECT_GE(fake.free_bytes(kFmem), floor);
    const auto& rep = r.report;
    EXPECT_EQ(rep.planned_moves, plan->Flatten().size());
    EXPECT_EQ(rep.planned_bytes, plan->moved_bytes());
    EXPECT_EQ(rep.applied_moves + rep.busy + rep.gone + rep.no_mem + rep.skipped + r.other_failed +
                  r.not_attempted,
              rep.planned_moves);
    EXPECT_EQ(rep.applied_bytes, rep.applied_moves * kPage);
    EXPECT_EQ(r.retry.size(), rep.busy);
    if (plan->moved_bytes() > 0 && rep.busy + rep.gone + r.other_failed == 0) {
      EXPECT_EQ(rep.applied_moves, rep.planned_moves);
    }
    total_demotions += plan->demote_bytes / kPage;
    total_skipped += rep.skipped;
    total_failed += rep.busy + rep.gone + r.other_failed;
  }
  // The scenarios do exercise the failure paths.
  EXPECT_GT(total_demotions, 100u);
  EXPECT_GT(total_failed, 10u);
  EXPECT_GT(total_skipped, 0u);
}

// ------------------------------------------------------------- locator --

TEST(MovePagesLocator, LocatesAndWalksPages) {
  FakePageMoveSyscall fake({64 * kPage, 64 * kPage});
  for (int i = 0; i < 4; ++i) fake.AddPage(1, P(i), kPage, kFmem);
  for (int i = 6; i < 10; ++i) fake.AddPage(1, P(i), kPage, kSmem);
  MovePagesLocator loc(fake, {.fmem_node = kFmem, .smem_node = kSmem, .batch_pages = 3});
  auto res = loc.Locate(1, P(0), P(12));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->fmem_bytes, 4 * kPage);
  EXPECT_EQ(res->smem_bytes, 4 * kPage);
  // Partial pages count by overlap.
  res = loc.Locate(1, P(3) + 1024, P(7) - 1024);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->fmem_bytes, 3072u);
  EXPECT_EQ(res->smem_bytes, 3072u);
  std::vector<Vaddr> seen;
  ASSERT_TRUE(loc.ForEachPage(1, P(0), P(12), [&](const placement::PageInfo& p) {
                   seen.push_back(p.addr);
                   EXPECT_EQ(p.tier, p.addr < P(4) ? Tier::kFmem : Tier::kSmem);
                   return seen.size() < 6;
                 }).ok());
  EXPECT_THAT(seen, ::testing::ElementsAre(P(0), P(1), P(2), P(3), P(6), P(7)));
  // Only query-mode calls.
  for (const auto& c : fake.calls()) EXPECT_EQ(c.dest_node, -1);
}

TEST(MovePagesLocator, ErrorsAndOtherNodes) {
  FakePageMoveSyscall fake({64 * kPage, 64 * kPage, 64 * kPage});
  fake.AddPage(1, P(0), kPage, 2);  // a third node counts nowhere
  MovePagesLocator loc(fake, {});
  auto res = loc.Locate(1, P(0), P(1));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->resident_bytes(), 0u);
  EXPECT_EQ(loc.Locate(9, P(0), P(1)).status().code(), absl::StatusCode::kNotFound);
  fake.FailCall(1, EPERM, 1);
  EXPECT_EQ(loc.Locate(1, P(0), P(1)).status().code(), absl::StatusCode::kPermissionDenied);
  fake.FailCall(1, EINVAL, 1);
  EXPECT_EQ(loc.ForEachPage(1, P(0), P(1), [](const placement::PageInfo&) { return true; }).code(),
            absl::StatusCode::kInternal);
  EXPECT_TRUE(loc.Locate(1, P(1), P(0)).ok());  // empty range
}

TEST(MovePagesLocator, HugeRangesAreSampled) {
  FakePageMoveSyscall fake({1ull << 40, 1ull << 40});
  // First half of a 64 GiB range on FMEM in 2 MiB pages, a 2 MiB page every
  // 64 MiB on SMEM in the second half.
  const Vaddr base = 0x7e0000000000ull;
  const uint64_t len = 64ull << 30;
  for (uint64_t off = 0; off < len / 2; off += kHugePageBytes) {
    fake.AddPage(1, base + off, kHugePageBytes, kFmem);
  }
  for (uint64_t off = len / 2; off < len; off += 64ull << 20) {
    fake.AddPage(1, base + off, kHugePageBytes, kSmem);
  }
  MovePagesLocator loc(fake, {.max_exact_pages = 1024, .sample_pages = 1 << 14});
  auto res = loc.Locate(1, base, base + len);
  ASSERT_TRUE(res.ok());
  size_t queried = 0;
  for (const auto& c : fake.calls()) queried += c.pages;
  EXPECT_EQ(queried, 1u << 14);
  EXPECT_NEAR(static_cast<double>(res->fmem_bytes), len / 2.0, len * 0.01);
  EXPECT_NEAR(static_cast<double>(res->smem_bytes), (len / 2.0) / 32, len * 0.01);
  EXPECT_LE(res->resident_bytes(), len);
}

}  // namespace
}  // namespace tiervm::adapters

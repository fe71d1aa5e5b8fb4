// HballoonPageLocator over FakeHballoonDev (and the real adapter on a device
// without the ioctl): exact residency, THPs reported once (range starting
// mid-THP, THP split across ioctl chunks), early stop, exited process,
// error propagation, counters, LocateMany, config checks, and a property
// test against placement::InMemoryPageLocator on random layouts.
#include "daemon/adapters/hballoon_locator.h"

#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "daemon/adapters/fake_hballoon_dev.h"
#include "gtest/gtest.h"
#include "placement/page_locator.h"

namespace tiervm::adapters {
namespace {

using placement::PageInfo;
using placement::Residency;
using placement::Tier;
using placement::Vaddr;

constexpr uint64_t kPg = 4096;
constexpr uint64_t kHuge = 2ull << 20;
constexpr Vaddr kBase = 0x40000000;  // 2 MiB aligned

std::unique_ptr<HballoonPageLocator> MakeLocator(HballoonDev& dev, uint32_t max_pages,
                                                 uint32_t ranges_per_call = 64) {
  HballoonLocatorConfig c;
  c.max_pages_per_call = max_pages;
  c.ranges_per_call = ranges_per_call;
  auto loc = HballoonPageLocator::Create(dev, c);
  EXPECT_TRUE(loc.ok()) << loc.status();
  return std::move(*loc);
}

using Seen = std::vector<std::tuple<Vaddr, uint64_t, Tier>>;

Seen Collect(const placement::PageLocator& loc, placement::Pid pid, Vaddr start, Vaddr end,
             absl::Status* status, size_t stop_after = SIZE_MAX) {
  Seen seen;
  *status = loc.ForEachPage(pid, start, end, [&](const PageInfo& p) {
    seen.emplace_back(p.addr, p.bytes, p.tier);
    return seen.size() < stop_after;
  });
  return seen;
}

TEST(HballoonLocatorConfig, RejectsBadFields) {
  FakeHballoonDev dev;
  EXPECT_TRUE(ValidateHballoonLocatorConfig({}).ok());
  auto bad = [&](HballoonLocatorConfig c) {
    absl::Status s = ValidateHballoonLocatorConfig(c);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_TRUE(absl::IsInvalidArgument(HballoonPageLocator::Create(dev, c).status()));
  };
  HballoonLocatorConfig c;
  c.smem_node = 0;
  bad(c);
  c = {};
  c.fmem_node = -1;
  bad(c);
  c = {};
  c.max_pages_per_call = 0;
  bad(c);
  c.max_pages_per_call = 100;
  bad(c);
  c.max_pages_per_call = HBALLOON_SCAN_MAX_PAGES + 64;
  bad(c);
  c = {};
  c.ranges_per_call = 0;
  bad(c);
  c.ranges_per_call = HBALLOON_SCAN_MAX_RANGES + 1;
  bad(c);
  c = {};
  c.user_vaddr_limit = 0x1001;
  bad(c);
  c.user_vaddr_limit = placement::kUserVaddrLimit + kPg;
  bad(c);
}

TEST(HballoonLocator, ExactResidencyCountsOnlyTheOverlap) {
  FakeHballoonDev dev;
  dev.online_nodes.insert(2);
  dev.Map(7, kBase, 10 * kPg, 0);                 // 10 FMEM pages
  dev.Map(7, kBase + 10 * kPg, 6 * kPg, 1);       // 6 SMEM pages
  dev.Map(7, kBase + 16 * kPg, 3 * kPg, 2);       // third node: nowhere
  dev.MapZero(7, kBase + 19 * kPg, 5 * kPg);      // zero page: nowhere
  dev.MapHuge(7, kBase + kHuge, 1);               // SMEM THP
  dev.MapHugeZero(7, kBase + 2 * kHuge);          // nowhere
  dev.MapHuge(7, kBase + 3 * kHuge, 0);           // FMEM THP
  auto loc = MakeLocator(dev, HBALLOON_SCAN_MAX_PAGES);

  auto r = loc->Locate(7, kBase, kBase + 4 * kHuge);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->fmem_bytes, 10 * kPg + kHuge);
  EXPECT_EQ(r->smem_bytes, 6 * kPg + kHuge);
  // Unaligned ends: half of page 0 and 100 bytes of page 12 (SMEM).
  r = loc->Locate(7, kBase + 2048, kBase + 12 * kPg + 100);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fmem_bytes, 10 * kPg - 2048);
  EXPECT_EQ(r->smem_bytes, 2 * kPg + 100);
  // Inside one page.
  r = loc->Locate(7, kBase + 11 * kPg + 10, kBase + 11 * kPg + 30);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fmem_bytes, 0u);
  EXPECT_EQ(r->smem_bytes, 20u);
  // Part of a THP.
  r = loc->Locate(7, kBase + kHuge + 5 * kPg + 1, kBase + kHuge + 9 * kPg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->smem_bytes, 4 * kPg - 1);
  // Empty, inverted, and above the user limit: nothing, no ioctl.
  const uint64_t calls = loc->calls();
  EXPECT_EQ(loc->Locate(7, kBase, kBase)->resident_bytes(), 0u);
  EXPECT_EQ(loc->Locate(7, kBase + kPg, kBase)->resident_bytes(), 0u);
  EXPECT_EQ(loc->Locate(7, 1ull << 50, ~0ull)->resident_bytes(), 0u);
  EXPECT_EQ(loc->calls(), calls);
  // A range reaching past the limit is clipped, not rejected.
  dev.Map(7, loc->config().user_vaddr_limit - 2 * kPg, 2 * kPg, 1);
  r = loc->Locate(7, loc->config().user_vaddr_limit - 4 * kPg, ~0ull);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->smem_bytes, 2 * kPg);
}

TEST(HballoonLocator, CountersAndChunking) {
  FakeHballoonDev dev;
  dev.Map(7, kBase, 1000 * kPg, 0);
  auto loc = MakeLocator(dev, 256);
  auto r = loc->Locate(7, kBase, kBase + 1000 * kPg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fmem_bytes, 1000 * kPg);
  // 1000 pages in 256-page chunks: 4 chunks, two nodes each.
  EXPECT_EQ(loc->calls(), 8u);
  EXPECT_EQ(loc->pages_walked(), 2000u);
  EXPECT_EQ(dev.locate_calls(), 8u);
  EXPECT_EQ(dev.located_pages(), 2000u);
}

TEST(HballoonLocator, ThpReportedOnceAcrossChunksAndFromMidThp) {
  FakeHballoonDev dev;
  dev.Map(7, kBase + kHuge - 3 * kPg, 3 * kPg, 1);  // just below THP 1
  dev.MapHuge(7, kBase + kHuge, 1);
  dev.MapHuge(7, kBase + 2 * kHuge, 0);
  dev.Map(7, kBase + 3 * kHuge, 2 * kPg, 0);
  // Starting 70 pages into THP 0's slot (not a THP) -> chunk cuts at
  // 64-page multiples from there fall inside both THPs.
  auto loc = MakeLocator(dev, 64);
  absl::Status st;
  Seen seen = Collect(*loc, 7, kBase + 70 * kPg, kBase + 3 * kHuge + 2 * kPg, &st);
  ASSERT_TRUE(st.ok()) << st;
  Seen want = {{kBase + kHuge - 3 * kPg, kPg, Tier::kSmem},
               {kBase + kHuge - 2 * kPg, kPg, Tier::kSmem},
               {kBase + kHuge - 1 * kPg, kPg, Tier::kSmem},
               {kBase + kHuge, kHuge, Tier::kSmem},
               {kBase + 2 * kHuge, kHuge, Tier::kFmem},
               {kBase + 3 * kHuge, kPg, Tier::kFmem},
               {kBase + 3 * kHuge + kPg, kPg, Tier::kFmem}};
  EXPECT_EQ(seen, want);
  // Range starting in the middle of THP 1 (and ending in THP 2): both
  // reported whole, at their aligned starts.
  seen = Collect(*loc, 7, kBase + kHuge + 300 * kPg + 5, kBase + 2 * kHuge + 1, &st);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(seen, (Seen{{kBase + kHuge, kHuge, Tier::kSmem}, {kBase + 2 * kHuge, kHuge, Tier::kFmem}}));
  // Residency of a mid-THP range counts only the overlap.
  auto r = loc->Locate(7, kBase + kHuge + 300 * kPg, kBase + 2 * kHuge + 10 * kPg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->smem_bytes, 212 * kPg);
  EXPECT_EQ(r->fmem_bytes, 10 * kPg);
  // After a THP moves (whole), the locator sees its new tier.
  ASSERT_TRUE(dev.Move(7, kBase + kHuge + 17 * kPg, 0).ok());
  seen = Collect(*loc, 7, kBase + kHuge, kBase + kHuge + kPg, &st);
  EXPECT_EQ(seen, (Seen{{kBase + kHuge, kHuge, Tier::kFmem}}));
}

TEST(HballoonLocator, StopsEarly) {
  FakeHballoonDev dev;
  dev.Map(7, kBase, 4096 * kPg, 1);
  auto loc = MakeLocator(dev, 64);
  absl::Status st;
  Seen seen = Collect(*loc, 7, kBase, kBase + 4096 * kPg, &st, /*stop_after=*/3);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(std::get<0>(seen[2]), kBase + 2 * kPg);
  EXPECT_EQ(loc->calls(), 2u) << "no ioctls after fn said stop";
}

TEST(HballoonLocator, ExitedProcessIsNotFound) {
  FakeHballoonDev dev;
  dev.Map(7, kBase, 4 * kPg, 0);
  dev.Exit(7);
  auto loc = MakeLocator(dev, HBALLOON_SCAN_MAX_PAGES);
  absl::Status st = loc->Locate(7, kBase, kBase + kPg).status();
  EXPECT_TRUE(absl::IsNotFound(st)) << st;
  EXPECT_NE(st.message().find("pid 7"), absl::string_view::npos) << st;
  EXPECT_TRUE(absl::IsNotFound(loc->ForEachPage(7, kBase, kBase + kPg, [](const PageInfo&) {
    return true;
  })));
}

TEST(HballoonLocator, InjectedErrorsPropagateWithContext) {
  FakeHballoonDev dev;
  dev.Map(7, kBase, 4 * kPg, 0);
  auto loc = MakeLocator(dev, HBALLOON_SCAN_MAX_PAGES);
  // First call (FMEM node) fails.
  dev.inject_errors.push_back(absl::UnavailableError("device broken"));
  absl::Status st = loc->Locate(7, kBase, kBase + 4 * kPg).status();
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
  EXPECT_NE(st.message().find("device broken"), absl::string_view::npos) << st;
  EXPECT_NE(st.message().find("node 0"), absl::string_view::npos) << st;
  // Second call (SMEM node) fails: ForEachPage reports nothing and fails.
  dev.inject_errors.push_back(absl::OkStatus());
  dev.inject_errors.push_back(absl::DeadlineExceededError("timeout"));
  size_t pages = 0;
  st = loc->ForEachPage(7, kBase, kBase + 4 * kPg, [&](const PageInfo&) {
    ++pages;
    return true;
  });
  EXPECT_TRUE(absl::IsDeadlineExceeded(st)) << st;
  EXPECT_NE(st.message().find("node 1"), absl::string_view::npos) << st;
  EXPECT_EQ(pages, 0u);
  // A bad node in the config reaches the driver's check.
  HballoonLocatorConfig c;
  c.smem_node = 3;
  auto bad = HballoonPageLocator::Create(dev, c);
  ASSERT_TRUE(bad.ok());
  EXPECT_TRUE(absl::IsInvalidArgument((*bad)->Locate(7, kBase, kBase + kPg).status()));
  // And the locator works again afterwards.
  auto r = loc->Locate(7, kBase, kBase + 4 * kPg);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fmem_bytes, 4 * kPg);
}

TEST(HballoonLocator, UnimplementedFromAnOldModulePassesThrough) {
  // /dev/null answers every ioctl with ENOTTY, like hballoon.ko without
  // HBALLOON_IOC_LOCATE.
  auto dev = LinuxHballoonDev::Open("/dev/null");
  ASSERT_TRUE(dev.ok()) << dev.status();
  auto loc = MakeLocator(**dev, HBALLOON_SCAN_MAX_PAGES);
  absl::Status st = loc->Locate(getpid(), kBase, kBase + kPg).status();
  EXPECT_TRUE(absl::IsUnimplemented(st)) << st;
  st = loc->ForEachPage(getpid(), kBase, kBase + kPg, [](const PageInfo&) { return true; });
  EXPECT_TRUE(absl::IsUnimplemented(st)) << st;
  EXPECT_EQ(loc->calls(), 0u);
}

TEST(HballoonLocator, LocateManyPacksRanges) {
  FakeHballoonDev dev;
  for (int i = 0; i < 10; ++i) dev.Map(7, kBase + i * 100 * kPg, 50 * kPg, i % 2);
  auto loc = MakeLocator(dev, HBALLOON_SCAN_MAX_PAGES, /*ranges_per_call=*/4);
  std::vector<std::pair<Vaddr, Vaddr>> rs;
  for (int i = 0; i < 10; ++i) rs.emplace_back(kBase + i * 100 * kPg + 10, kBase + i * 100 * kPg + 60 * kPg);
  rs.emplace_back(kBase + 2000 * kPg, kBase + 2000 * kPg);  // empty
  // Sharing a page with its neighbour (both unaligned in page 1100).
  rs.emplace_back(kBase + 1100 * kPg, kBase + 1100 * kPg + 100);
  rs.emplace_back(kBase + 1100 * kPg + 100, kBase + 1101 * kPg);
  dev.Map(7, kBase + 1100 * kPg, kPg, 1);
  auto many = loc->LocateMany(7, rs);
  ASSERT_TRUE(many.ok()) << many.status();
  // 11 walk ranges (10, and the pair sharing page 1100 merged; the empty
  // one none), 4 per call: 3 chunks, two nodes each.
  EXPECT_EQ(loc->calls(), 2u * 3);
  ASSERT_EQ(many->size(), rs.size());
  for (size_t i = 0; i < rs.size(); ++i) {
    auto one = loc->Locate(7, rs[i].first, rs[i].second);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ((*many)[i].fmem_bytes, one->fmem_bytes) << i;
    EXPECT_EQ((*many)[i].smem_bytes, one->smem_bytes) << i;
  }
  EXPECT_EQ((*many)[0].fmem_bytes, 50 * kPg - 10);
  EXPECT_EQ((*many)[1].smem_bytes, 50 * kPg - 10);
  EXPECT_EQ((*many)[11].smem_bytes, 100u);
  EXPECT_EQ((*many)[12].smem_bytes, kPg - 100);
  std::vector<std::pair<Vaddr, Vaddr>> desc = {{kBase + kPg, kBase + 2 * kPg}, {kBase, kBase + kPg}};
  EXPECT_TRUE(absl::IsInvalidArgument(loc->LocateMany(7, desc).status()));
  std::vector<std::pair<Vaddr, Vaddr>> overlap = {{kBase, kBase + 2 * kPg}, {kBase + kPg, kBase + 3 * kPg}};
  EXPECT_TRUE(absl::IsInvalidArgument(loc->LocateMany(7, overlap).status()));
}

// Random layouts built identically in the fake driver and in
// InMemoryPageLocator; both locators must agree on every query.
TEST(HballoonLocatorProperty, AgreesWithInMemoryLocator) {
  constexpr placement::Pid kPid = 42;
  constexpr int kSlots = 8;  // 2 MiB slots from kBase
  const uint32_t budgets[] = {64, 128, 192, 512, 1024, HBALLOON_SCAN_MAX_PAGES};
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    std::mt19937_64 rng(seed);
    auto uni = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
    FakeHballoonDev dev;
    dev.online_nodes.insert(2);
    placement::InMemoryPageLocator mem;
    auto tier = [](int node) { return node == 0 ? Tier::kFmem : Tier::kSmem; };
    std::vector<Vaddr> thps, bases;
    for (int s = 0; s < kSlots; ++s) {
      const Vaddr slot = kBase + s * kHuge;
      const uint64_t kind = uni(5);
      if (kind == 0) {
        continue;  // a 2 MiB hole
      } else if (kind == 1) {
        const int node = static_cast<int>(uni(2));
        dev.MapHuge(kPid, slot, node);
        mem.AddPages(kPid, slot, slot + kHuge, kHuge, tier(node));
        thps.push_back(slot);
      } else if (kind == 2) {
        dev.MapHugeZero(kPid, slot);
      } else {
        // Runs of base pages: hole, node 0, node 1, node 2 (nowhere),
        // zero page (nowhere).
        for (uint64_t p = 0; p < 512;) {
          const uint64_t run = std::min<uint64_t>(512 - p, 1 + uni(80));
          const uint64_t what = uni(5);
          const Vaddr a = slot + p * kPg;
          if (what == 0 || what == 1) {
            const int node = static_cast<int>(what);
            dev.Map(kPid, a, run * kPg, node);
            mem.AddPages(kPid, a, a + run * kPg, kPg, tier(node));
            for (uint64_t k = 0; k < run; ++k) bases.push_back(a + k * kPg);
          } else if (what == 2) {
            dev.Map(kPid, a, run * kPg, 2);
          } else if (what == 3) {
            dev.MapZero(kPid, a, run * kPg);
          }
          p += run;
        }
      }
    }
    if (thps.empty() && bases.empty()) {  // InMemory needs one page to know the pid
      dev.Map(kPid, kBase, kPg, 0);
      mem.AddPages(kPid, kBase, kBase + kPg, kPg, Tier::kFmem);
      bases.push_back(kBase);
    }
    // Some migrations, applied to both.
    for (int m = 0; m < 20; ++m) {
      const bool huge = !thps.empty() && (bases.empty() || uni(3) == 0);
      const Vaddr page = huge ? thps[uni(thps.size())] : bases[uni(bases.size())];
      const int node = static_cast<int>(uni(2));
      const Vaddr addr = huge ? page + uni(512) * kPg : page;
      ASSERT_TRUE(dev.Move(kPid, addr, node).ok());
      ASSERT_TRUE(mem.Move(kPid, page, tier(node)).ok());
    }
    const uint32_t budget = budgets[uni(std::size(budgets))];
    auto loc = MakeLocator(dev, budget, static_cast<uint32_t>(1 + uni(HBALLOON_SCAN_MAX_RANGES)));
    const Vaddr lo = kBase - kHuge / 2, span = (kSlots + 1) * kHuge;
    for (int q = 0; q < 25; ++q) {
      Vaddr a = lo + uni(span), b = lo + uni(span);
      if (uni(3) == 0) a &= ~(kPg - 1);
      if (uni(3) == 0) b &= ~(kPg - 1);
      if (a > b) std::swap(a, b);
      SCOPED_TRACE(testing::Message() << "seed " << seed << " budget " << budget << " [0x"
                                      << std::hex << a << ", 0x" << b << ")");
      auto got = loc->Locate(kPid, a, b);
      auto want = mem.Locate(kPid, a, b);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_TRUE(want.ok()) << want.status();
      EXPECT_EQ(got->fmem_bytes, want->fmem_bytes);
      EXPECT_EQ(got->smem_bytes, want->smem_bytes);
      absl::Status s1, s2;
      const size_t stop = uni(2) ? SIZE_MAX : 1 + uni(20);
      Seen g = Collect(*loc, kPid, a, b, &s1, stop);
      Seen w = Collect(mem, kPid, a, b, &s2, stop);
      ASSERT_TRUE(s1.ok()) << s1;
      ASSERT_TRUE(s2.ok()) << s2;
      ASSERT_EQ(g, w);
    }
    // LocateMany over random ascending ranges equals per-range SumResidency.
    std::vector<Vaddr> cuts;
    for (int k = 0; k < 12; ++k) cuts.push_back(lo + uni(span));
    std::sort(cuts.begin(), cuts.end());
    std::vector<std::pair<Vaddr, Vaddr>> rs;
    for (size_t k = 0; k + 1 < cuts.size(); k += 1 + uni(2)) rs.emplace_back(cuts[k], cuts[k + 1]);
    auto many = loc->LocateMany(kPid, rs);
    ASSERT_TRUE(many.ok()) << many.status();
    for (size_t k = 0; k < rs.size(); ++k) {
      auto want = placement::SumResidency(mem, kPid, rs[k].first, rs[k].second);
      ASSERT_TRUE(want.ok());
      EXPECT_EQ((*many)[k].fmem_bytes, want->fmem_bytes) << "seed " << seed << " range " << k;
      EXPECT_EQ((*many)[k].smem_bytes, want->smem_bytes) << "seed " << seed << " range " << k;
    }
  }
}

}  // namespace
}  // namespace tiervm::adapters

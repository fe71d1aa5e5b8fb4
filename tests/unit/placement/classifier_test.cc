#include "placement/classifier.h"

#include <memory>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace tiervm::placement {
namespace {

using ::testing::ElementsAre;
using testing::At;
using testing::kMiB;

constexpr Pid kPid = 7;

RangeStats R(double a_mib, double b_mib, double weight, Pid pid = kPid) {
  return testing::R(a_mib, b_mib, weight, pid);
}

// Four 4 MiB ranges, densities 40 > 20 > 10 > 0 samples per MiB:
//   [0,4) w=160 SMEM   [4,8) w=80 FMEM   [8,12) w=40 SMEM   [12,16) w=0 FMEM
struct Fixture {
  TrackerSnapshot snap{1, {R(0, 4, 160), R(4, 8, 80), R(8, 12, 40), R(12, 16, 0)}};
  InMemoryPageLocator loc;
  Fixture() {
    loc.AddPages(kPid, At(0), At(4), kBasePageBytes, Tier::kSmem);
    loc.AddPages(kPid, At(4), At(8), kBasePageBytes, Tier::kFmem);
    loc.AddPages(kPid, At(8), At(12), kBasePageBytes, Tier::kSmem);
    loc.AddPages(kPid, At(12), At(16), kBasePageBytes, Tier::kFmem);
  }
};

TEST(ClassifierTest, FillsCapacityMinusHeadroomExactly) {
  Fixture f;
  // 12 MiB capacity - 2 MiB headroom = 10 MiB hot: [0,4) and [4,8) whole,
  // 2 of the 4 MiB of [8,12); [12,16) was never sampled, so it is cold.
  auto c = Classify(f.snap, f.loc, {12 * kMiB, 2 * kMiB});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->target_fmem_bytes, 10 * kMiB);
  EXPECT_EQ(c->hot_bytes, 10 * kMiB);
  ASSERT_EQ(c->ranges.size(), 4u);
  EXPECT_EQ(c->ranges[0].start, At(0));
  EXPECT_EQ(c->ranges[0].hot_bytes, 4 * kMiB);
  EXPECT_EQ(c->ranges[2].hot_bytes, 2 * kMiB);
  EXPECT_EQ(c->ranges[3].hot_bytes, 0u);
  // Promote: the SMEM parts of hot ranges, hottest first.
  ASSERT_THAT(c->promote, ElementsAre(0, 2));
  EXPECT_EQ(c->ranges[0].promote_bytes(), 4 * kMiB);
  EXPECT_EQ(c->ranges[2].promote_bytes(), 2 * kMiB);
  // Demote: the cold range on FMEM.
  ASSERT_THAT(c->demote, ElementsAre(3));
  EXPECT_EQ(c->ranges[3].demote_bytes(), 4 * kMiB);
  EXPECT_NEAR(c->fmem_weight_fraction, 80.0 / 280, 1e-12);
}

TEST(ClassifierTest, HotSetIsOnlySampledMemoryWhenCapacityIsLarge) {
  Fixture f;
  auto c = Classify(f.snap, f.loc, {64 * kMiB, 2 * kMiB});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->hot_bytes, 12 * kMiB);  // [12,16) has no samples
  // [12,16) stays a demote candidate; the planner demotes only on demand.
  EXPECT_THAT(c->demote, ElementsAre(3));
}

TEST(ClassifierTest, HotnessCurve) {
  Fixture f;
  auto c = Classify(f.snap, f.loc, {12 * kMiB, 0});
  ASSERT_TRUE(c.ok());
  // Vertices: hottest 4 MiB cover 160/280, 8 MiB 240/280, 12 MiB all.
  ASSERT_EQ(c->curve.size(), 5u);
  EXPECT_EQ(c->curve[0].bytes, 0u);
  EXPECT_NEAR(c->curve[1].covered_fraction, 160.0 / 280, 1e-12);
  EXPECT_NEAR(c->curve[2].covered_fraction, 240.0 / 280, 1e-12);
  EXPECT_EQ(c->curve[4].bytes, 16 * kMiB);
  EXPECT_EQ(c->curve[4].covered_fraction, 1.0);
  EXPECT_NEAR(c->CoveredFraction(2 * kMiB), 80.0 / 280, 1e-12);  // interpolated
  EXPECT_EQ(c->CoveredFraction(100 * kMiB), 1.0);
}

TEST(ClassifierTest, RejectsHeadroomAboveCapacity) {
  Fixture f;
  EXPECT_TRUE(absl::IsInvalidArgument(Classify(f.snap, f.loc, {kMiB, 2 * kMiB}).status()));
}

TEST(ClassifierTest, ExitedProcessIsSkipped) {
  Fixture f;
  TrackerSnapshot snap(1, {R(0, 4, 160), R(0, 4, 100, kPid + 1)});
  auto c = Classify(snap, f.loc, {8 * kMiB, 0});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->unlocated_ranges, 1u);
  EXPECT_EQ(c->ranges.size(), 1u);
}

TEST(ClassifierTest, RandomSnapshotsFillExactlyAndCurveIsMonotoneConcave) {
  for (int seed = 1; seed <= 50; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<RangeStats> ranges;
    InMemoryPageLocator loc;
    double pos = 0;
    uint64_t weighted_resident = 0;
    for (int i = 0; i < 40; ++i) {
      const double len = 2.0 * (1 + rng() % 8);
      const double w = rng() % 3 == 0 ? 0 : static_cast<double>(rng() % 1000);
      ranges.push_back(R(pos, pos + len, w));
      // Partly resident, on random tiers, in 2 MiB pieces.
      for (double p = pos; p < pos + len; p += 2) {
        if (rng() % 4 == 0) continue;
        loc.AddPages(kPid, At(p), At(p + 2), rng() % 2 ? kHugePageBytes : kBasePageBytes,
                     rng() % 2 ? Tier::kFmem : Tier::kSmem);
        if (w > 0) weighted_resident += 2 * kMiB;
      }
      pos += len + 2 * (rng() % 2);
    }
    TrackerSnapshot snap(1, ranges);
    const uint64_t cap = (rng() % 200) * kMiB;
    const uint64_t headroom = cap / (2 + rng() % 8);
    auto c = Classify(snap, loc, {cap, headroom});
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->hot_bytes, std::min(cap - headroom, weighted_resident)) << seed;
    uint64_t hot_sum = 0;
    for (const RangeClass& rc : c->ranges) {
      hot_sum += rc.hot_bytes;
      EXPECT_LE(rc.hot_bytes, rc.residency.resident_bytes());
    }
    EXPECT_EQ(hot_sum, c->hot_bytes);
    for (size_t i = 1; i < c->curve.size(); ++i) {
      const HotnessPoint& a = c->curve[i - 1];
      const HotnessPoint& b = c->curve[i];
      EXPECT_LE(a.bytes, b.bytes);
      EXPECT_LE(a.covered_fraction, b.covered_fraction + 1e-12);
      EXPECT_LE(b.covered_fraction, 1.0);
      if (i >= 2) {
        // Concave: ranked by density, each segment is no steeper than the
        // one before (the hottest bytes come first).
        const HotnessPoint& z = c->curve[i - 2];
        const double s1 = (a.covered_fraction - z.covered_fraction) * (b.bytes - a.bytes);
        const double s2 = (b.covered_fraction - a.covered_fraction) * (a.bytes - z.bytes);
        EXPECT_LE(s2, s1 + 1e-6 * (b.bytes - z.bytes));
      }
    }
    for (uint64_t x = 0; x < 300 * kMiB; x += 7 * kMiB) {
      EXPECT_LE(c->CoveredFraction(x), c->CoveredFraction(x + 7 * kMiB) + 1e-12);
    }
  }
}

// Page level.  One 4 MiB range (1,024 pages), [0,2) on FMEM, [2,4) on
// SMEM; eight hot pages in the SMEM half counted 20 times each and 64
// pages all over counted once: hot keys scattered over a heap.
struct ScatteredHot {
  static constexpr int kHot = 8;
  TrackerSnapshot snap;
  InMemoryPageLocator loc;
  std::vector<Vaddr> hot;
  ScatteredHot() {
    auto pages = std::make_shared<PageHeatMap>();
    double weight = 0;
    for (int i = 0; i < kHot; ++i) {
      hot.push_back(At(2) + (37 * i + 5) * kBasePageBytes);
      (*pages)[hot.back() / kBasePageBytes] = 20;
      weight += 20;
    }
    for (int i = 0; i < 64; ++i) {
      (*pages)[At(0) / kBasePageBytes + 16 * i + 1] = 1;
      weight += 1;
    }
    snap = TrackerSnapshot(1, {testing::WithCounts(R(0, 4, weight), *pages)},
                           PageHeat{{kPid, pages}});
    loc.AddPages(kPid, At(0), At(2), kBasePageBytes, Tier::kFmem);
    loc.AddPages(kPid, At(2), At(4), kBasePageBytes, Tier::kSmem);
  }
};

TEST(ClassifierPageLevelTest, ScatteredHotPagesAreRankedPageByPage) {
  ScatteredHot f;
  const uint64_t target = ScatteredHot::kHot * kBasePageBytes;
  auto c = Classify(f.snap, f.loc, {target, 0});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->ranges.size(), 1u);
  const RangeClass& rc = c->ranges[0];
  EXPECT_TRUE(rc.page_resolved);
  EXPECT_EQ(c->page_resolved_ranges, 1u);
  // Exactly the eight hot pages fill the target ...
  EXPECT_EQ(c->hot_bytes, target);
  for (Vaddr v : f.hot) {
    EXPECT_GE(PageDensity(f.snap, rc, v, kBasePageBytes), c->cut_density) << v;
  }
  // ... and neither a page counted once nor one never counted is hot.
  EXPECT_LT(PageDensity(f.snap, rc, At(0) + kBasePageBytes, kBasePageBytes), c->cut_density);
  EXPECT_LT(PageDensity(f.snap, rc, At(1), kBasePageBytes), c->cut_density);
  // A page's density is its count shrunk towards the range's: the hot
  // pages are far denser than the range on average, never counted ones
  // below it.
  EXPECT_GT(PageDensity(f.snap, rc, f.hot[0], kBasePageBytes), 50 * rc.density);
  EXPECT_LT(PageDensity(f.snap, rc, At(1), kBasePageBytes), rc.density);
  // Where the hot pages are is unknown to the classifier: upper bounds.
  EXPECT_EQ(rc.promote_bytes(), target);
  EXPECT_EQ(rc.demote_bytes(), 2 * kMiB);
  EXPECT_THAT(c->promote, ElementsAre(0));
  EXPECT_THAT(c->demote, ElementsAre(0));
}

TEST(ClassifierPageLevelTest, EvenCountsLeaveTheRangeWhole) {
  // Every page counted about as often as the others (Poisson noise): the
  // range stays one unit, or its pages' densities stay near the range's.
  std::mt19937_64 rng(3);
  std::poisson_distribution<int> poisson(2.0);
  auto pages = std::make_shared<PageHeatMap>();
  double weight = 0;
  for (uint64_t p = 0; p < 1024; ++p) {
    const int n = poisson(rng);
    if (n > 0) (*pages)[At(0) / kBasePageBytes + p] = static_cast<float>(n);
    weight += n;
  }
  TrackerSnapshot snap(1, {testing::WithCounts(R(0, 4, weight), *pages)},
                       PageHeat{{kPid, pages}});
  InMemoryPageLocator loc;
  loc.AddPages(kPid, At(0), At(4), kBasePageBytes, Tier::kSmem);
  auto c = Classify(snap, loc, {2 * kMiB, 0});
  ASSERT_TRUE(c.ok());
  const RangeClass& rc = c->ranges[0];
  for (uint64_t p = 0; p < 1024; p += 7) {
    const double d = PageDensity(snap, rc, At(0) + p * kBasePageBytes, kBasePageBytes);
    EXPECT_GT(d, 0.5 * rc.density) << p;
    EXPECT_LT(d, 1.5 * rc.density) << p;
  }
  EXPECT_EQ(c->hot_bytes, 2 * kMiB);
}

TEST(ClassifierPageLevelTest, FaintRangeKeepsItsHotPages) {
  // The range on the whole is below the faint threshold; its hot pages are
  // not.
  ScatteredHot f;
  ClassifierConfig cfg{ScatteredHot::kHot * kBasePageBytes, 0};
  cfg.min_hot_weight_per_mib = 2 * f.snap.ranges()[0].density();
  auto c = Classify(f.snap, f.loc, cfg);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->ranges[0].faint);
  EXPECT_EQ(c->hot_bytes, cfg.fmem_capacity_bytes);
  // Without page counts the same range is faint: nothing is hot.
  TrackerSnapshot ranges_only(1, f.snap.ranges());
  auto r = Classify(ranges_only, f.loc, cfg);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ranges[0].faint);
  EXPECT_EQ(r->hot_bytes, 0u);
}

}  // namespace
}  // namespace tiervm::placement

#include "placement/classifier.h"

#include <random>

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

}  // namespace
}  // namespace tiervm::placement

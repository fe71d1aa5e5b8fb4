// RangeTracker split/merge rules, drawn as address layouts (MiB offsets
// from a base address; '#' marks where samples land).
#include "placement/range_tracker.h"

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
using testing::Layout;

constexpr Pid kPid = 100;

RangeTrackerConfig TestConfig() {
  RangeTrackerConfig c;  // 2 MiB granularity, decay 1/2
  c.split_min_weight = 16;
  return c;
}

// One sample of weight `w` every 64 KiB over [a, b) MiB.
void Spray(RangeTracker& t, double a, double b, uint32_t w = 1, Pid pid = kPid) {
  for (Vaddr v = At(a); v < At(b); v += 64 << 10) {
    t.Ingest(Sample{pid, v, AccessKind::kLoad, w, 0});
  }
}

TEST(RangeTrackerTest, RangesStartAsWholeSpans) {
  RangeTracker t(TestConfig());
  // VMAs:   [0,8)[8,16)      [32,34)   [40,40.0625)
  // spans:  [0,      16)     [32,34)   (too small: not tracked)
  ASSERT_TRUE(t.SetVmas(kPid, {{At(8), At(16)}, {At(0), At(8)}, {At(32), At(34)},
                               {At(40), At(40) + 64 * 1024}})
                  .ok());
  EXPECT_EQ(Layout(t.Snapshot(), kPid), "[0,16)[32,34)");
  EXPECT_EQ(t.range_count(), 2u);
}

TEST(RangeTrackerTest, SplitsWhereSamplesAreSkewed) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(16)}}).ok());
  // before:  [0,                      16)
  // samples:                  ########       in [12,16)
  // after:   [0,             12)[12,  16)    cut at the sub-block edge that
  //                                          best separates dense from sparse
  Spray(t, 12, 16);
  t.EndEpoch();
  EXPECT_EQ(Layout(t.Snapshot(), kPid), "[0,12)[12,16)");
  EXPECT_EQ(t.stats().splits, 1u);
}

TEST(RangeTrackerTest, RefinesToTheHotSpotOverEpochs) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(16)}}).ok());
  // samples every epoch:   ##         in [6,8)
  // epoch 1: [0,     8)[8,          16)   best separating cut first
  // epoch 2: [0,  6)[6,8)[8,       16)
  // epoch 3: unchanged: a 2 MiB range cannot split, cold neighbours differ
  const char* expected[] = {"[0,8)[8,16)", "[0,6)[6,8)[8,16)", "[0,6)[6,8)[8,16)"};
  for (const char* want : expected) {
    Spray(t, 6, 8);
    t.EndEpoch();
    EXPECT_EQ(Layout(t.Snapshot(), kPid), want);
  }
}

TEST(RangeTrackerTest, IdleNeighboursMergeBack) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(16)}}).ok());
  for (int e = 0; e < 2; ++e) {
    Spray(t, 6, 8);
    t.EndEpoch();
  }
  ASSERT_EQ(Layout(t.Snapshot(), kPid), "[0,6)[6,8)[8,16)");
  // The hot spot goes quiet; its weight halves every epoch until the three
  // ranges together hold less than merge_max_weight:
  //   [0,6)[6,8)[8,16)  ->  [0,              16)
  int epochs = 0;
  while (Layout(t.Snapshot(), kPid) != "[0,16)" && epochs < 20) {
    t.EndEpoch();
    ++epochs;
  }
  EXPECT_EQ(Layout(t.Snapshot(), kPid), "[0,16)");
  EXPECT_GT(epochs, 3);  // not before the weight has decayed
  EXPECT_GE(t.stats().merges, 2u);
}

TEST(RangeTrackerTest, AlikeNeighboursMerge) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(16)}}).ok());
  Spray(t, 12, 16, 4);
  t.EndEpoch();
  ASSERT_EQ(Layout(t.Snapshot(), kPid), "[0,12)[12,16)");
  // Now the whole area is used evenly: once the old skew has decayed, the
  // densities agree within merge_contrast and the split is undone, and the
  // even range never splits again.
  //   [0,12)[12,16)  ->  [0,16)
  std::vector<std::string> layouts;
  for (int e = 0; e < 8; ++e) {
    Spray(t, 0, 16, 4);
    t.EndEpoch();
    layouts.push_back(Layout(t.Snapshot(), kPid));
  }
  EXPECT_EQ(layouts.back(), "[0,16)");
  EXPECT_EQ(t.stats().splits, 1u);
}

TEST(RangeTrackerTest, MergeNeverCrossesAGap) {
  RangeTracker t(TestConfig());
  // [0,4)  gap  [8,12): nothing sampled, yet the spans stay apart.
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(4)}, {At(8), At(12)}}).ok());
  for (int e = 0; e < 3; ++e) t.EndEpoch();
  EXPECT_EQ(Layout(t.Snapshot(), kPid), "[0,4)[8,12)");
}

TEST(RangeTrackerTest, WeightsDecayAndSubBlocksSumToWeight) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(2)}}).ok());
  // A 2 MiB range has 8 sub-blocks of 256 KiB.
  t.Ingest(Sample{kPid, At(0), AccessKind::kStore, 8, 0});
  t.Ingest(Sample{kPid, At(1.9), AccessKind::kLoad, 8, 0});
  t.EndEpoch();
  const TrackerSnapshot snap = t.Snapshot();
  const RangeStats& r = snap.ranges().at(0);
  EXPECT_DOUBLE_EQ(r.weight, 8.0);  // 16 halved
  EXPECT_DOUBLE_EQ(r.store_weight, 4.0);
  EXPECT_THAT(r.sub_weight, ElementsAre(4, 0, 0, 0, 0, 0, 0, 4));
}

TEST(RangeTrackerTest, MunmapKeepsWeightOfWhatStaysMapped) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(16)}}).ok());
  for (int e = 0; e < 2; ++e) {
    Spray(t, 6, 8);
    t.EndEpoch();
  }
  ASSERT_EQ(Layout(t.Snapshot(), kPid), "[0,6)[6,8)[8,16)");
  const double hot = t.Snapshot().ranges()[1].weight;
  // munmap [7,9) and mmap [20,24):
  //   before: [0,6)[6,8)[8,16)
  //   VMAs:   [0,    7)  [9,16)      [20,24)
  //   after:  [0,6)[6,7) [9,16)      [20,24)   (new area starts at zero)
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(7)}, {At(9), At(16)}, {At(20), At(24)}}).ok());
  const TrackerSnapshot s = t.Snapshot();
  EXPECT_EQ(Layout(s, kPid), "[0,6)[6,7)[9,16)[20,24)");
  EXPECT_NEAR(s.ranges()[1].weight, hot / 2, 1e-9);  // half of [6,8) stayed
  EXPECT_EQ(s.ranges()[3].weight, 0);
  // Samples in the hole are dropped and counted.
  const uint64_t unmapped = t.stats().samples_unmapped;
  t.Ingest(Sample{kPid, At(8), AccessKind::kLoad, 1, 0});
  EXPECT_EQ(t.stats().samples_unmapped, unmapped + 1);
}

TEST(RangeTrackerTest, ProcessExitForgetsItsRanges) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(16)}}).ok());
  ASSERT_TRUE(t.SetVmas(kPid + 1, {{At(0), At(4)}}).ok());
  Spray(t, 0, 16);
  ASSERT_TRUE(t.RemoveProcess(kPid).ok());
  EXPECT_EQ(t.range_count(), 1u);
  EXPECT_EQ(Layout(t.Snapshot(), kPid), "");
  EXPECT_EQ(Layout(t.Snapshot(), kPid + 1), "[0,4)");
  EXPECT_TRUE(absl::IsNotFound(t.RemoveProcess(kPid)));
  // A sample from the dead pid is an unknown pid, reported once.
  t.Ingest(Sample{kPid, At(1), AccessKind::kLoad, 1, 0});
  t.Ingest(Sample{kPid, At(2), AccessKind::kLoad, 1, 0});
  EXPECT_EQ(t.stats().samples_unknown_pid, 2u);
  EXPECT_THAT(t.TakeUnknownPids(), ElementsAre(kPid));
  EXPECT_TRUE(t.TakeUnknownPids().empty());
}

TEST(RangeTrackerTest, RejectsBadVmaListsAndStaysUnchanged) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(16)}}).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(t.SetVmas(kPid, {{At(0), At(8)}, {At(4), At(12)}})));
  EXPECT_TRUE(absl::IsInvalidArgument(t.SetVmas(kPid, {{At(0) + 1, At(8)}})));
  EXPECT_TRUE(absl::IsInvalidArgument(t.SetVmas(kPid, {{At(8), At(8)}})));
  EXPECT_TRUE(absl::IsInvalidArgument(t.SetVmas(0, {{At(0), At(8)}})));
  EXPECT_EQ(Layout(t.Snapshot(), kPid), "[0,16)");
}

TEST(RangeTrackerTest, RangeBudgetHoldsAcrossProcesses) {
  RangeTrackerConfig c = TestConfig();
  c.max_ranges = 4;
  RangeTracker t(c);
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(16)}}).ok());
  for (int e = 0; e < 3; ++e) {
    Spray(t, 6, 8);
    t.EndEpoch();
  }
  ASSERT_EQ(t.range_count(), 3u);
  // A second process arrives with spans [0,2) [4,8) and [10,11) (too small
  // to track).  The first process's neighbours differ too much to merge
  // (contrast 1), so the newcomer gives up its smallest span:
  //   pid 100: [0,6)[6,8)[8,16)    pid 101: [4,8)
  ASSERT_TRUE(t.SetVmas(kPid + 1, {{At(0), At(2)}, {At(4), At(8)}, {At(10), At(11)}}).ok());
  EXPECT_EQ(t.range_count(), 4u);
  EXPECT_EQ(t.stats().dropped_spans, 1u);
  EXPECT_EQ(Layout(t.Snapshot(), kPid), "[0,6)[6,8)[8,16)");
  EXPECT_EQ(Layout(t.Snapshot(), kPid + 1), "[4,8)");
}

TEST(RangeTrackerTest, BudgetMergesAlikeNeighboursBeforeDroppingSpans) {
  RangeTrackerConfig c = TestConfig();
  c.max_ranges = 3;
  c.merge_max_weight = 0;  // keep idle ranges apart until the budget bites
  RangeTracker t(c);
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(16)}}).ok());
  Spray(t, 12, 16);
  t.EndEpoch();
  ASSERT_EQ(Layout(t.Snapshot(), kPid), "[0,12)[12,16)");
  // munmap [12,16), mmap it again: [0,12)[12,16) where [12,16) is now new
  // and empty, like its neighbour.  A second process needs 2 ranges; the two
  // empty neighbours (contrast 0) merge to make room:
  //   pid 100: [0,16)    pid 101: [0,2)[4,8)
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(12)}}).ok());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(12)}, {At(12), At(16)}}).ok());
  ASSERT_EQ(Layout(t.Snapshot(), kPid), "[0,12)[12,16)");
  ASSERT_TRUE(t.SetVmas(kPid + 1, {{At(0), At(2)}, {At(4), At(8)}}).ok());
  EXPECT_EQ(t.range_count(), 3u);
  EXPECT_EQ(t.stats().forced_merges, 1u);
  EXPECT_EQ(t.stats().dropped_spans, 0u);
  EXPECT_EQ(Layout(t.Snapshot(), kPid), "[0,16)");
  EXPECT_EQ(Layout(t.Snapshot(), kPid + 1), "[0,2)[4,8)");
}

TEST(RangeTrackerTest, ConfigValidation) {
  RangeTrackerConfig c;
  EXPECT_TRUE(c.Validate().ok());
  c.min_range_bytes = 3 * kMiB;
  EXPECT_FALSE(c.Validate().ok());
  c = RangeTrackerConfig();
  c.decay_factor = 0;
  EXPECT_FALSE(c.Validate().ok());
  c = RangeTrackerConfig();
  c.merge_contrast = 0.9;  // above split_contrast: would oscillate
  EXPECT_FALSE(c.Validate().ok());
}

}  // namespace
}  // namespace tiervm::placement

namespace tiervm::placement {
namespace {

Sample PageSample(Vaddr v, uint32_t weight = 1) {
  return Sample{kPid, v, AccessKind::kLoad, weight, 0};
}

TEST(RangeTrackerPageCountsTest, CountsBasePageSamplesOnly) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(8)}}).ok());
  for (int i = 0; i < 3; ++i) t.Ingest(PageSample(At(1) + 100));
  t.Ingest(PageSample(At(2)));
  // A young THP block stands for 64 pages: no single page's count.
  t.Ingest(PageSample(At(4), 64));
  const TrackerSnapshot snap = t.Snapshot();
  EXPECT_EQ(t.stats().page_counts, 2u);
  EXPECT_DOUBLE_EQ(snap.PageCountIn(kPid, At(1), At(1) + kBasePageBytes), 3);
  EXPECT_DOUBLE_EQ(snap.PageCountIn(kPid, At(0), At(8)), 4);
  EXPECT_DOUBLE_EQ(snap.PageCountIn(kPid, At(4), At(6)), 0);
  EXPECT_EQ(snap.PagesOf(kPid + 1), nullptr);
}

TEST(RangeTrackerPageCountsTest, SnapshotsDoNotSeeLaterSamples) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(8)}}).ok());
  for (int i = 0; i < 3; ++i) t.Ingest(PageSample(At(1)));
  t.Ingest(PageSample(At(5)));
  const TrackerSnapshot before = t.Snapshot();
  ASSERT_NE(before.PagesOf(kPid), nullptr);
  t.Ingest(PageSample(At(1)));
  t.Ingest(PageSample(At(3)));
  t.EndEpoch();
  EXPECT_DOUBLE_EQ(before.PageCountIn(kPid, At(0), At(8)), 4);
  EXPECT_EQ(before.PagesOf(kPid)->size(), 2u);
  EXPECT_EQ(before.ranges()[0].page_counted, 2u);
  EXPECT_NEAR(t.Snapshot().PageCountIn(kPid, At(0), At(8)), 6 * t.config().page_decay_factor, 1e-5);
}

TEST(RangeTrackerPageCountsTest, MomentsFollowSamplesEpochsAndSplits) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(8)}}).ok());
  // Page At(1) counted 4 times, At(6) once: sum 5, sum of squares 17.
  for (int i = 0; i < 4; ++i) t.Ingest(PageSample(At(1)));
  t.Ingest(PageSample(At(6)));
  TrackerSnapshot s = t.Snapshot();
  ASSERT_EQ(s.ranges().size(), 1u);
  EXPECT_EQ(s.ranges()[0].page_counted, 2u);
  EXPECT_DOUBLE_EQ(s.ranges()[0].page_sum, 5);
  EXPECT_DOUBLE_EQ(s.ranges()[0].page_sum_sq, 17);
  EXPECT_TRUE(s.ranges()[0].PageCountsOverDispersed(8 * kMiB));
  // Samples at [0,2) only: the range splits, each part keeps its pages.
  Spray(t, 0, 2, 64);
  t.EndEpoch();
  s = t.Snapshot();
  ASSERT_GE(s.ranges().size(), 2u);
  double sum = 0;
  uint64_t counted = 0;
  for (const RangeStats& r : s.ranges()) {
    sum += r.page_sum;
    counted += r.page_counted;
    const bool holds_first = r.start <= At(1) && At(1) < r.end;
    if (holds_first) {
      EXPECT_NEAR(r.page_sum, 4 * t.config().page_decay_factor, 1e-5);
    }
  }
  EXPECT_EQ(counted, 2u);
  EXPECT_NEAR(sum, 5 * t.config().page_decay_factor, 1e-5);
}

TEST(RangeTrackerPageCountsTest, EvenCountsAreNotHandedOut) {
  // Every page of the range counted once: nothing for the classifier to
  // tell apart, and sharing the table would cost a copy at the next Ingest.
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(2)}}).ok());
  for (Vaddr v = At(0); v < At(2); v += kBasePageBytes) t.Ingest(PageSample(v));
  const TrackerSnapshot s = t.Snapshot();
  EXPECT_EQ(s.ranges()[0].page_counted, 512u);
  EXPECT_FALSE(s.ranges()[0].PageCountsOverDispersed(2 * kMiB));
  EXPECT_TRUE(s.page_heat().empty());
}

TEST(RangeTrackerPageCountsTest, DecayForgetsAndTheTableIsBounded) {
  RangeTrackerConfig c = TestConfig();
  c.max_page_counts = 4;
  c.page_decay_factor = 0.5;
  c.page_min_count = 0.3;
  RangeTracker t(c);
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(8)}}).ok());
  for (int p = 0; p < 6; ++p) t.Ingest(PageSample(At(0) + p * kBasePageBytes));
  t.Ingest(PageSample(At(0)));  // counted already: counts again
  EXPECT_EQ(t.stats().page_counts, 4u);
  EXPECT_EQ(t.stats().page_samples_unstored, 2u);
  EXPECT_DOUBLE_EQ(t.Snapshot().PageCountIn(kPid, At(0), At(0) + kBasePageBytes), 2);
  // 2 -> 1, 1 -> 0.5; pages went uncounted: the coldest go, down to 3/4
  // of the table (the three at 0.5 tie, so all of them).
  t.EndEpoch();
  EXPECT_EQ(t.stats().page_counts, 1u);
  // Room again for new pages.
  t.Ingest(PageSample(At(5)));
  t.Ingest(PageSample(At(6)));
  EXPECT_EQ(t.stats().page_counts, 3u);
  // Without a miss nothing is forgotten for room: all three 1 -> 0.5 and
  // stay; then 0.5 -> 0.25 is below page_min_count.
  t.EndEpoch();
  EXPECT_EQ(t.stats().page_counts, 3u);
  t.EndEpoch();
  EXPECT_EQ(t.stats().page_counts, 0u);
}

TEST(RangeTrackerPageCountsTest, UnmappedAndExitedPagesAreForgotten) {
  RangeTracker t(TestConfig());
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(8)}}).ok());
  t.Ingest(PageSample(At(1)));
  t.Ingest(PageSample(At(6)));
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(4)}}).ok());
  EXPECT_EQ(t.stats().page_counts, 1u);
  EXPECT_EQ(t.Snapshot().ranges()[0].page_counted, 1u);
  EXPECT_DOUBLE_EQ(t.Snapshot().ranges()[0].page_sum, 1);
  ASSERT_TRUE(t.RemoveProcess(kPid).ok());
  EXPECT_EQ(t.stats().page_counts, 0u);
}

TEST(RangeTrackerPageCountsTest, ZeroTurnsPageCountsOff) {
  RangeTrackerConfig c = TestConfig();
  c.max_page_counts = 0;
  RangeTracker t(c);
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(8)}}).ok());
  t.Ingest(PageSample(At(1)));
  EXPECT_EQ(t.stats().page_counts, 0u);
  EXPECT_TRUE(t.Snapshot().page_heat().empty());
  c.page_decay_factor = 0;
  EXPECT_FALSE(c.Validate().ok());
}

}  // namespace
}  // namespace tiervm::placement

namespace tiervm::placement {
namespace {

// The moments kept incrementally (Ingest, decay, forgetting, splits and
// merges, unmapping) equal those recomputed from the counts, epoch after
// epoch, with the hot spot moving.
TEST(RangeTrackerPageCountsTest, IncrementalMomentsMatchTheCounts) {
  RangeTrackerConfig c = TestConfig();
  c.page_decay_factor = 0.8;
  c.page_min_count = 0.3;
  RangeTracker t(c);
  ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(32)}}).ok());
  std::mt19937_64 rng(11);
  for (int epoch = 0; epoch < 150; ++epoch) {
    const double hot = epoch < 75 ? 4 : 20;
    for (int i = 0; i < 400; ++i) {
      // Hot keys: 16 pages 64 KiB apart; the rest anywhere.
      const double mib = rng() % 4 ? hot + static_cast<double>(rng() % 16) / 16
                                   : static_cast<double>(rng() % 8192) / 256;
      t.Ingest(Sample{kPid, At(mib) / kBasePageBytes * kBasePageBytes, AccessKind::kLoad, 1, 0});
    }
    if (epoch == 100) {
      ASSERT_TRUE(t.SetVmas(kPid, {{At(0), At(24)}}).ok());
    }
    t.EndEpoch();
    const TrackerSnapshot s = t.Snapshot();
    const PageHeatMap* m = s.PagesOf(kPid);
    ASSERT_NE(m, nullptr) << "a hot spot among cold pages is over-dispersed";
    uint64_t counted = 0;
    for (const RangeStats& r : s.ranges()) {
      double sum = 0, sq = 0;
      uint64_t n = 0;
      for (const auto& [vpn, count] : *m) {
        const Vaddr a = vpn * kBasePageBytes;
        if (a < r.start || a >= r.end) continue;
        ++n;
        sum += count;
        sq += static_cast<double>(count) * count;
      }
      counted += n;
      ASSERT_EQ(r.page_counted, n) << "epoch " << epoch;
      ASSERT_NEAR(r.page_sum, sum, 1e-3 * (1 + sum)) << "epoch " << epoch;
      ASSERT_NEAR(r.page_sum_sq, sq, 1e-3 * (1 + sq)) << "epoch " << epoch;
    }
    ASSERT_EQ(counted, m->size());
  }
  EXPECT_GT(t.stats().splits, 0u);
}

}  // namespace
}  // namespace tiervm::placement

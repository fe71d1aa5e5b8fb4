#include "placement/bounce_counter.h"

#include "gtest/gtest.h"

namespace tiervm::placement {
namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr Pid kPid = 3;

TEST(BounceCounterTest, ADemotionWithinTheWindowIsABounce) {
  BounceCounter b({10 * kS, 0});
  b.Promoted(kPid, 0x1000, 4096, 0);
  b.Promoted(kPid, 0x2000, 4096, 0);
  b.Promoted(kPid, 0x200000, kHugePageBytes, 1 * kS);
  b.Demoted(kPid, 0x1000, 10 * kS);           // exactly at the window: a bounce
  b.Demoted(kPid, 0x2000, 10 * kS + 1);       // past it: not
  b.Demoted(kPid, 0x200000, 5 * kS);          // a THP, whole
  b.Demoted(kPid, 0x9000, 5 * kS);            // never promoted
  b.Demoted(kPid + 1, 0x200000, 5 * kS);      // another process's page
  EXPECT_EQ(b.stats().promotions, 3u);
  EXPECT_EQ(b.stats().bounced, 2u);
  EXPECT_EQ(b.stats().bounced_bytes, 4096 + kHugePageBytes);
  EXPECT_DOUBLE_EQ(b.bounced_share(),
                   static_cast<double>(4096 + kHugePageBytes) / (2 * 4096 + kHugePageBytes));
  EXPECT_EQ(b.remembered(), 0u);
}

TEST(BounceCounterTest, APromotionAgainRestartsTheWindowAndADemotionEndsIt) {
  BounceCounter b({10 * kS, 0});
  b.Promoted(kPid, 0x1000, 4096, 0);
  b.Demoted(kPid, 0x1000, 1 * kS);   // bounce 1
  b.Demoted(kPid, 0x1000, 2 * kS);   // demoted twice: counted once
  b.Promoted(kPid, 0x1000, 4096, 3 * kS);
  b.Promoted(kPid, 0x1000, 4096, 12 * kS);  // again, later
  b.Demoted(kPid, 0x1000, 21 * kS);  // 9 s after the latest: bounce 2
  EXPECT_EQ(b.stats().bounced, 2u);
  EXPECT_EQ(b.stats().promotions, 3u);
}

// An alternating stream: the same pages up and down every second, for a
// long time.  Every demotion is a bounce; memory stays bounded by the
// window (and by max_pages, which forgets the oldest).
TEST(BounceCounterTest, MemoryIsBoundedOnALongStream) {
  BounceCounter b({2 * kS, 1000});
  int64_t t = 0;
  for (int round = 0; round < 200; ++round, t += kS) {
    for (Vaddr p = 0; p < 800; ++p) b.Promoted(kPid, p << 12, 4096, t);
    EXPECT_LE(b.remembered(), 1000u);
    if (round % 2 == 1) {
      for (Vaddr p = 0; p < 800; ++p) b.Demoted(kPid, p << 12, t);
    }
  }
  EXPECT_EQ(b.stats().bounced, 100u * 800u);
  EXPECT_EQ(b.stats().forgotten, 0u);  // re-promotion replaces, does not add
  // New pages every second: the bound forgets the oldest.
  for (int round = 0; round < 5; ++round, t += kS / 10) {
    for (Vaddr p = 0; p < 800; ++p) b.Promoted(kPid + 1, (p + 1000 * round) << 12, 4096, t);
  }
  EXPECT_LE(b.remembered(), 1000u);
  EXPECT_GT(b.stats().forgotten, 0u);
  // Past the window everything is forgotten.
  b.Demoted(kPid, 0, t + 3 * kS);
  EXPECT_EQ(b.remembered(), 0u);
}

}  // namespace
}  // namespace tiervm::placement

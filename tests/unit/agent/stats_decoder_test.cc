// Decoding query-hballoon stats records into RawTelemetry.
#include "adapters/stats/stats_decoder.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using ::testing::HasSubstr;
using qmp::HballoonStatRecord;
using qmp::HballoonStats;

HballoonStats Stats(uint32_t seq, int64_t ms, std::vector<HballoonStatRecord> r) {
  HballoonStats s;
  s.seq = seq;
  s.last_update_ms = ms;
  s.records = std::move(r);
  return s;
}

TEST(StatsDecoderTest, CurveAndShares) {
  StatsDecoder d;
  auto r = d.Decode(Stats(1, 1000, {{kStatHotSharePpm, 1, 1'000'000},
                                    {kStatHotBytes, 0, 64 << 20},
                                    {kStatHotSharePpm, 0, 800'000},
                                    {kStatHotBytes, 1, 1 << 30},
                                    {kStatSmemSharePpm, 0xffff, 120'000},
                                    {0, 0, 5}, {1, 1, 7}, {7, 0xffff, 99}}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  const RawTelemetry& t = **r;
  ASSERT_EQ(t.hotness.size(), 2u);
  EXPECT_EQ(t.hotness[0].bytes, 64 << 20);
  EXPECT_EQ(t.hotness[0].share_ppm, 800'000);
  EXPECT_EQ(t.hotness[1].bytes, 1 << 30);
  EXPECT_EQ(t.smem_access_share_ppm, 120'000);
  EXPECT_EQ(t.psi_some_ppm, 0);
}

TEST(StatsDecoderTest, UnchangedReportIsNotNew) {
  StatsDecoder d;
  EXPECT_FALSE(d.Decode(Stats(0, 0, {}))->has_value());  // never reported
  EXPECT_TRUE(d.Decode(Stats(3, 5000, {}))->has_value());
  EXPECT_FALSE(d.Decode(Stats(3, 5000, {}))->has_value());
  EXPECT_TRUE(d.Decode(Stats(4, 6000, {}))->has_value());
}

TEST(StatsDecoderTest, PsiFromCounterDeltasOverHostTime) {
  StatsDecoder d;
  auto psi = [](uint64_t some, uint64_t full) {
    return std::vector<HballoonStatRecord>{{kStatPsiSomeUs, 0xffff, some},
                                           {kStatPsiFullUs, 0xffff, full}};
  };
  // First report: baseline only.
  auto r = d.Decode(Stats(1, 10'000, psi(1'000'000, 100'000)));
  EXPECT_EQ((*r)->psi_some_ppm, 0);
  // 2 s later, 50 ms more "some" stall, 10 ms more "full": 2.5 %, 0.5 %.
  r = d.Decode(Stats(2, 12'000, psi(1'050'000, 110'000)));
  EXPECT_EQ((*r)->psi_some_ppm, 25'000);
  EXPECT_EQ((*r)->psi_full_ppm, 5'000);
  // Guest rebooted: counters restart.  No PSI this time, not rejected.
  r = d.Decode(Stats(1, 14'000, psi(3'000, 0)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->psi_some_ppm, 0);
  r = d.Decode(Stats(2, 15'000, psi(503'000, 0)));
  EXPECT_EQ((*r)->psi_some_ppm, 500'000);
  // Slightly above 100 % (clock jitter) is clamped; far above is passed
  // on for the sanitizer to reject.
  r = d.Decode(Stats(3, 16'000, psi(503'000 + 1'050'000, 0)));
  EXPECT_EQ((*r)->psi_some_ppm, 1'000'000);
  r = d.Decode(Stats(4, 17'000, psi(1'553'000 + 5'000'000, 0)));
  EXPECT_EQ((*r)->psi_some_ppm, 5'000'000);
  // A huge jump saturates instead of overflowing.
  r = d.Decode(Stats(5, 17'001, psi(UINT64_MAX, 0)));
  EXPECT_EQ((*r)->psi_some_ppm, INT64_MAX);
}

// The guest kernel rounds "some" and "full" separately: full a hair above
// some is clamped to some (the sanitizer would reject the whole report);
// far above is passed on to be rejected.
TEST(StatsDecoderTest, FullAHairAboveSomeIsClamped) {
  StatsDecoder d;
  auto psi = [](uint64_t some, uint64_t full) {
    return std::vector<HballoonStatRecord>{{kStatPsiSomeUs, 0xffff, some},
                                           {kStatPsiFullUs, 0xffff, full}};
  };
  ASSERT_TRUE(d.Decode(Stats(1, 10'000, psi(0, 0))).ok());
  // 1 s: 384 us some, 385 us full (the harness saw 385 > 384 ppm).
  auto r = d.Decode(Stats(2, 11'000, psi(384, 385)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->psi_some_ppm, 384);
  EXPECT_EQ((*r)->psi_full_ppm, 384);
  EXPECT_TRUE(SanitizeTelemetry(**r, 1ull << 30, absl::Now()).ok());
  // 1 s: some +1,000 us, full +1,000 + kPsiFullExcessPpm us: still clamped.
  r = d.Decode(Stats(3, 12'000, psi(1'384, 385 + 1'000 + kPsiFullExcessPpm)));
  EXPECT_EQ((*r)->psi_full_ppm, 1'000);
  // One microsecond more is not rounding: passed on, and rejected.
  r = d.Decode(Stats(4, 13'000, psi(2'384, 2'386 + 1'000 + kPsiFullExcessPpm)));
  EXPECT_EQ((*r)->psi_full_ppm, 1'000 + kPsiFullExcessPpm + 1);
  EXPECT_FALSE(SanitizeTelemetry(**r, 1ull << 30, absl::Now()).ok());
}

TEST(StatsDecoderTest, MalformedCurves) {
  struct Case {
    std::vector<HballoonStatRecord> r;
    const char* want;
  };
  const Case cases[] = {
      {{{kStatHotBytes, 0, 5}}, "point 0 lacks its HOT_SHARE_PPM"},
      {{{kStatHotSharePpm, 0, 5}}, "point 0 lacks its HOT_BYTES"},
      {{{kStatHotBytes, 1, 5}, {kStatHotSharePpm, 1, 5}}, "point 0 missing"},
      {{{kStatHotBytes, 0xffff, 5}}, "without an index"},
  };
  uint32_t seq = 0;
  StatsDecoder d;
  for (const Case& c : cases) {
    ++seq;
    auto r = d.Decode(Stats(seq, 1000 * seq, c.r));
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.want));
  }
  std::vector<HballoonStatRecord> many;
  for (uint16_t i = 0; i < 100; ++i) {
    many.push_back({kStatHotBytes, i, (uint64_t{i} + 1) << 20});
    many.push_back({kStatHotSharePpm, i, i});
  }
  ++seq;
  auto r = d.Decode(Stats(seq, 1000 * seq, many));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("more than 64 points"));
  // A value of 2^64-1 reads as -1 and is left for the sanitizer.
  ++seq;
  r = d.Decode(Stats(seq, 1000 * seq, {{kStatSmemSharePpm, 0xffff, UINT64_MAX}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->smem_access_share_ppm, -1);
}

}  // namespace
}  // namespace tiervm::agent

#include "core/hotness_curve.h"

#include <vector>

#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

TEST(ServedSharePpm, InterpolatesThroughOriginAndIsFlatAfterLastPoint) {
  const std::vector<HotnessPoint> pts = {{100, 500'000}, {300, 900'000}};
  EXPECT_DOUBLE_EQ(ServedSharePpm(pts, 0), 0);
  EXPECT_DOUBLE_EQ(ServedSharePpm(pts, 50), 250'000);
  EXPECT_DOUBLE_EQ(ServedSharePpm(pts, 100), 500'000);
  EXPECT_DOUBLE_EQ(ServedSharePpm(pts, 200), 700'000);
  EXPECT_DOUBLE_EQ(ServedSharePpm(pts, 300), 900'000);
  EXPECT_DOUBLE_EQ(ServedSharePpm(pts, 10'000), 900'000);
  EXPECT_DOUBLE_EQ(ServedSharePpm({}, 123), 0);
}

TEST(ConcaveSegments, ConcaveCurveKeepsItsSegments) {
  const std::vector<HotnessPoint> pts = {{100, 500'000}, {300, 900'000}};
  std::vector<CurveSegment> segs;
  ConcaveSegments(pts, &segs);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].begin_bytes, 0u);
  EXPECT_EQ(segs[0].end_bytes, 100u);
  EXPECT_DOUBLE_EQ(segs[0].ppm_per_byte, 5000);
  EXPECT_EQ(segs[1].begin_bytes, 100u);
  EXPECT_EQ(segs[1].end_bytes, 300u);
  EXPECT_DOUBLE_EQ(segs[1].ppm_per_byte, 2000);
}

TEST(ConcaveSegments, ConvexKinkIsBridgedByTheEnvelope) {
  // Little gain until the whole 200-byte hot set fits: the envelope is one
  // straight segment from the origin to (200, 900000).
  const std::vector<HotnessPoint> pts = {{100, 100'000}, {200, 900'000}};
  std::vector<CurveSegment> segs;
  ConcaveSegments(pts, &segs);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].end_bytes, 200u);
  EXPECT_DOUBLE_EQ(segs[0].ppm_per_byte, 4500);
}

TEST(ConcaveSegments, SlopesStrictlyDecreaseAndFlatTailIsDropped) {
  const std::vector<HotnessPoint> pts = {{10, 100'000},  {20, 300'000},
                                         {40, 500'000},  {80, 600'000},
                                         {160, 600'000}, {320, 600'000}};
  std::vector<CurveSegment> segs;
  ConcaveSegments(pts, &segs);
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs.back().end_bytes, 80u);
  for (size_t i = 1; i < segs.size(); ++i) {
    EXPECT_LT(segs[i].ppm_per_byte, segs[i - 1].ppm_per_byte);
    EXPECT_EQ(segs[i].begin_bytes, segs[i - 1].end_bytes);
  }
}

TEST(ConcaveSegments, EmptyCurveYieldsNothing) {
  std::vector<CurveSegment> segs;
  ConcaveSegments({}, &segs);
  EXPECT_TRUE(segs.empty());
}

TEST(UniformSegments, OneSegmentCoveringTheSpan) {
  std::vector<CurveSegment> segs;
  UniformSegments(0, &segs);
  EXPECT_TRUE(segs.empty());
  UniformSegments(1000, &segs);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].end_bytes, 1000u);
  EXPECT_DOUBLE_EQ(segs[0].ppm_per_byte, 1000);
}

}  // namespace
}  // namespace tiervm::agent

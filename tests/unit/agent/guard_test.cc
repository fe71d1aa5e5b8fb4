#include "core/guard.h"

#include "agent_test_util.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using testing::Config;
using testing::State;

const absl::Time kNow = absl::FromUnixSeconds(1'000'000);

VmView View(uint64_t target, std::optional<Telemetry> t,
            VmConfig c = Config(0, 16 * kGiB)) {
  VmView v;
  v.id = "vm";
  v.config = c;
  v.state = State(target, target);
  v.telemetry = t;
  v.telemetry_fresh = t.has_value();
  return v;
}

Telemetry Psi(uint32_t some_ppm, uint32_t smem_share_ppm = 0) {
  Telemetry t;
  t.received = kNow;
  t.psi_some_ppm = some_ppm;
  t.smem_access_share_ppm = smem_share_ppm;
  return t;
}

uint64_t AlignDown(uint64_t x) { return x & ~(2 * kMiB - 1); }

GuardConfig Guard() {
  GuardConfig g;
  g.min_shrink_step_bytes = 64 * kMiB;
  g.shrink_step_ppm = 100'000;
  g.max_grow_step_bytes = 1 * kGiB;
  return g;
}

TEST(GuardRange, CalmVmShrinksByTheSenpaiStep) {
  const VmRange r = GuardRange(View(8 * kGiB, Psi(0)), Guard());
  EXPECT_EQ(r.verdict, GuardVerdict::kFree);
  EXPECT_EQ(r.lo_bytes, 8 * kGiB - AlignDown(8 * kGiB / 10));
  EXPECT_EQ(r.lo_bytes % (2 * kMiB), 0u);
  EXPECT_EQ(r.hi_bytes, 9 * kGiB);
}

TEST(GuardRange, StepShrinksAsPsiApproachesTarget) {
  VmView v = View(8 * kGiB, Psi(5'000));  // half the 1 % target
  const VmRange r = GuardRange(v, Guard());
  EXPECT_EQ(r.verdict, GuardVerdict::kFree);
  EXPECT_EQ(8 * kGiB - r.lo_bytes,
            AlignDown(static_cast<uint64_t>(8 * kGiB / 10 * 0.5)));
}

TEST(GuardRange, PsiAboveTargetForbidsShrinking) {
  const VmRange r = GuardRange(View(8 * kGiB, Psi(10'001)), Guard());
  EXPECT_EQ(r.verdict, GuardVerdict::kStalled);
  EXPECT_EQ(r.lo_bytes, 8 * kGiB);
  EXPECT_EQ(r.hi_bytes, 9 * kGiB);
}

TEST(GuardRange, SmemShareAboveTargetForbidsShrinking) {
  const VmRange r = GuardRange(View(8 * kGiB, Psi(0, 300'000)), Guard());
  EXPECT_EQ(r.verdict, GuardVerdict::kStalled);
  EXPECT_EQ(r.lo_bytes, 8 * kGiB);
}

TEST(GuardRange, StaleTelemetryShrinksByTheMinimumStepOnly) {
  const VmRange r = GuardRange(View(8 * kGiB, std::nullopt), Guard());
  EXPECT_EQ(r.verdict, GuardVerdict::kStaleTelemetry);
  EXPECT_EQ(r.lo_bytes, 8 * kGiB - 64 * kMiB);
}

TEST(GuardRange, MinAndMaxAlwaysWin) {
  // Target above max (config changed): the range is [max, max].
  VmRange r = GuardRange(View(20 * kGiB, Psi(50'000), Config(kGiB, 16 * kGiB)),
                         Guard());
  EXPECT_EQ(r.lo_bytes, 16 * kGiB);
  EXPECT_EQ(r.hi_bytes, 16 * kGiB);
  // Target below min: the range starts at min.
  r = GuardRange(View(0, Psi(0), Config(kGiB, 16 * kGiB)), Guard());
  EXPECT_EQ(r.lo_bytes, kGiB);
  EXPECT_EQ(r.hi_bytes, kGiB);
}

TEST(GuardRanges, FloorsAreScaledBackWhenTheyExceedTheBudget) {
  HostSnapshot::Builder b;
  // Both stalled at 6 GiB, budget lowered to 8 GiB, min 2 GiB each:
  // soft floors 4 + 4 GiB must fit into 8 − 4 = 4 GiB, i.e. halve.
  b.SetHost(8 * kGiB, 0, kNow)
      .AddVm("a", Config(2 * kGiB, 16 * kGiB), State(6 * kGiB, 6 * kGiB),
             Psi(50'000))
      .AddVm("b", Config(2 * kGiB, 16 * kGiB), State(6 * kGiB, 6 * kGiB),
             Psi(50'000));
  absl::StatusOr<HostSnapshot> s = std::move(b).Build();
  ASSERT_TRUE(s.ok());
  const std::vector<VmRange> r = GuardRanges(*s, Guard());
  EXPECT_EQ(r[0].lo_bytes, 4 * kGiB);
  EXPECT_EQ(r[1].lo_bytes, 4 * kGiB);
  EXPECT_EQ(r[0].verdict, GuardVerdict::kBudgetOverride);
  EXPECT_LE(r[0].lo_bytes + r[1].lo_bytes, s->fmem_budget_bytes());
}

TEST(GuardVerdictName, Names) {
  EXPECT_STREQ(GuardVerdictName(GuardVerdict::kStalled), "stalled");
  EXPECT_STREQ(GuardVerdictName(GuardVerdict::kBudgetOverride),
               "budget-override");
}

}  // namespace
}  // namespace tiervm::agent

#include "core/actuator.h"

#include <map>
#include <utility>
#include <vector>

#include "agent_test_util.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using testing::Config;
using testing::State;

FmemPlan Desire(std::vector<uint64_t> bytes) {
  FmemPlan p;
  p.policy = "test";
  for (uint64_t b : bytes) p.vms.push_back({b, GuardVerdict::kFree});
  return p;
}

ActuatorConfig Cfg() {
  ActuatorConfig c;
  c.shrink_timeout = absl::Seconds(30);
  c.grow_timeout = absl::Seconds(30);
  c.stuck_retry_after = absl::Minutes(10);
  return c;
}

class ActuatorTest : public ::testing::Test {
 protected:
  // a donates to b in an 8 GiB budget on an 8 GiB node.
  HostSnapshot Snap(uint64_t a_target, uint64_t a_actual, uint64_t b_target,
                    uint64_t b_actual) {
    HostSnapshot::Builder bld;
    bld.SetHost(8 * kGiB, 8 * kGiB - a_actual - b_actual, clock_.Now())
        .AddVm("a", Config(0, 8 * kGiB), State(a_target, a_actual))
        .AddVm("b", Config(0, 8 * kGiB), State(b_target, b_actual));
    return *std::move(bld).Build();
  }

  FakeClock clock_;
  Actuator act_{Cfg(), clock_};
};

bool HasEvent(const ActuatorStep& s, const VmId& vm, MoveEventKind kind) {
  for (const MoveEvent& e : s.events) {
    if (e.vm == vm && e.kind == kind) return true;
  }
  return false;
}

TEST_F(ActuatorTest, DonorShrinksThenRecipientGrows) {
  const FmemPlan want = Desire({2 * kGiB, 6 * kGiB});
  ActuatorStep s =
      act_.Tick(Snap(6 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB), want);
  ASSERT_EQ(s.commands.size(), 1u);
  EXPECT_EQ(s.commands[0].vm, "a");
  EXPECT_EQ(s.commands[0].target_bytes, 2 * kGiB);
  EXPECT_EQ(act_.state("a"), MoveState::kShrinking);
  EXPECT_EQ(act_.state("b"), MoveState::kWaitingForDonors);

  clock_.Advance(absl::Seconds(5));
  s = act_.Tick(Snap(2 * kGiB, 2 * kGiB, 2 * kGiB, 2 * kGiB), want);
  EXPECT_TRUE(HasEvent(s, "a", MoveEventKind::kShrinkSettled));
  ASSERT_EQ(s.commands.size(), 1u);
  EXPECT_EQ(s.commands[0].vm, "b");
  EXPECT_EQ(s.commands[0].target_bytes, 6 * kGiB);
  EXPECT_EQ(act_.state("b"), MoveState::kGrowing);

  clock_.Advance(absl::Seconds(5));
  s = act_.Tick(Snap(2 * kGiB, 2 * kGiB, 6 * kGiB, 6 * kGiB), want);
  EXPECT_TRUE(HasEvent(s, "b", MoveEventKind::kGrowSettled));
  EXPECT_TRUE(s.commands.empty());
  EXPECT_EQ(act_.state("a"), MoveState::kIdle);
  EXPECT_EQ(act_.state("b"), MoveState::kIdle);
}

TEST_F(ActuatorTest, StuckDonorTimesOutNothingIsHandedOnAndItIsFlagged) {
  const FmemPlan want = Desire({2 * kGiB, 6 * kGiB});
  act_.Tick(Snap(6 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB), want);
  ActuatorStep s;
  for (int i = 0; i < 6; ++i) {  // 30 s, actual never moves
    clock_.Advance(absl::Seconds(5));
    s = act_.Tick(Snap(2 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB), want);
    for (const TargetCommand& c : s.commands) {
      EXPECT_NE(c.vm, "b") << "b must not grow from FMEM a never released";
    }
  }
  EXPECT_TRUE(HasEvent(s, "a", MoveEventKind::kShrinkTimedOut));
  // The donor keeps its lower target (it stays charged for the 6 GiB it
  // holds); setting it back up to its actual would be a raise.
  EXPECT_TRUE(s.commands.empty());
  EXPECT_TRUE(act_.IsStuck("a"));
  EXPECT_EQ(act_.state("a"), MoveState::kStuck);
  EXPECT_EQ(act_.StuckVms(), std::vector<VmId>{"a"});

  // While flagged, a is not asked again.
  clock_.Advance(absl::Seconds(5));
  s = act_.Tick(Snap(2 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB),
                Desire({1 * kGiB, 6 * kGiB}));
  EXPECT_TRUE(s.commands.empty());

  // The operator clears it: it is a donor again.
  act_.ClearStuck("a");
  s = act_.Tick(Snap(2 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB),
                Desire({1 * kGiB, 6 * kGiB}));
  ASSERT_EQ(s.commands.size(), 1u);
  EXPECT_EQ(s.commands[0].vm, "a");
  EXPECT_EQ(s.commands[0].target_bytes, 1 * kGiB);
}

TEST_F(ActuatorTest, StuckFlagExpires) {
  const FmemPlan want = Desire({2 * kGiB, 6 * kGiB});
  act_.Tick(Snap(6 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB), want);
  clock_.Advance(absl::Seconds(31));
  act_.Tick(Snap(2 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB), want);
  ASSERT_TRUE(act_.IsStuck("a"));
  clock_.Advance(absl::Minutes(10));
  // Still off its target: a shrink in flight again, timed afresh.
  ActuatorStep s =
      act_.Tick(Snap(2 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB), want);
  EXPECT_TRUE(HasEvent(s, "a", MoveEventKind::kStuckCleared));
  EXPECT_TRUE(HasEvent(s, "a", MoveEventKind::kAdoptedShrink));
  EXPECT_FALSE(act_.IsStuck("a"));
  EXPECT_EQ(act_.state("a"), MoveState::kShrinking);
  clock_.Advance(absl::Seconds(30));
  s = act_.Tick(Snap(2 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB), want);
  EXPECT_TRUE(HasEvent(s, "a", MoveEventKind::kShrinkTimedOut));
  EXPECT_TRUE(act_.IsStuck("a"));
}

TEST_F(ActuatorTest, RecipientThatNeverTakesItsGrantIsWithdrawn) {
  const FmemPlan want = Desire({2 * kGiB, 6 * kGiB});
  act_.Tick(Snap(2 * kGiB, 2 * kGiB, 2 * kGiB, 2 * kGiB), want);
  EXPECT_EQ(act_.state("b"), MoveState::kGrowing);
  clock_.Advance(absl::Seconds(30));
  ActuatorStep s =
      act_.Tick(Snap(2 * kGiB, 2 * kGiB, 6 * kGiB, 2 * kGiB), want);
  EXPECT_TRUE(HasEvent(s, "b", MoveEventKind::kGrowTimedOut));
  ASSERT_EQ(s.commands.size(), 1u);
  EXPECT_EQ(s.commands[0].target_bytes, 2 * kGiB);
  EXPECT_TRUE(act_.IsStuck("b"));
}

// Σ targets of a step applied to a snapshot's targets.
uint64_t SumAfter(const HostSnapshot& snap, const ActuatorStep& s) {
  std::map<VmId, uint64_t> t;
  for (const VmView& v : snap.vms()) t[v.id] = v.state.fmem_target_bytes;
  for (const TargetCommand& c : s.commands) t[c.vm] = c.target_bytes;
  uint64_t sum = 0;
  for (const auto& [id, b] : t) sum += b;
  return sum;
}

HostSnapshot SnapOf(uint64_t budget, uint64_t free,
                    std::vector<std::pair<VmConfig, VmTierState>> vms,
                    absl::Time now) {
  HostSnapshot::Builder bld;
  bld.SetHost(budget, free, now);
  char id[] = "a";
  for (const auto& [c, s] : vms) {
    bld.AddVm(id, c, s);
    ++id[0];
  }
  return *std::move(bld).Build();
}

TEST_F(ActuatorTest, ShrinkTimeoutNeverRaisesATargetTheGuestTookBack) {
  // Issue 13, defect 3: a donor shrinks halfway, the recipient is granted
  // what came free, then the donor's guest deflates on OOM back above its
  // old size.  Its timeout must not set target := actual (Σ 12 > 8 GiB).
  const uint64_t budget = 8 * kGiB;
  const FmemPlan want = Desire({2 * kGiB, 6 * kGiB});
  auto snap = [&](uint64_t at, uint64_t aa, uint64_t bt, uint64_t ba,
                  uint64_t free) {
    return SnapOf(budget, free,
                  {{Config(0, 8 * kGiB), State(at, aa)},
                   {Config(0, 8 * kGiB), State(bt, ba)}},
                  clock_.Now());
  };
  ActuatorStep s = act_.Tick(snap(6 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB, 0),
                             want);
  ASSERT_EQ(s.commands.size(), 1u);  // a -> 2 GiB
  clock_.Advance(absl::Seconds(5));
  s = act_.Tick(snap(2 * kGiB, 4 * kGiB, 2 * kGiB, 2 * kGiB, 2 * kGiB), want);
  ASSERT_EQ(s.commands.size(), 1u);
  EXPECT_EQ(s.commands[0].vm, "b");
  EXPECT_EQ(s.commands[0].target_bytes, 4 * kGiB);  // what a released
  // a's guest takes 4 GiB back (OOM), b has grown: 6 + 4 resident.
  for (int i = 0; i < 6; ++i) {
    clock_.Advance(absl::Seconds(5));
    const HostSnapshot now = snap(2 * kGiB, 6 * kGiB, 4 * kGiB, 4 * kGiB, 0);
    s = act_.Tick(now, want);
    for (const TargetCommand& c : s.commands) {
      EXPECT_FALSE(c.vm == "a" && c.target_bytes > 2 * kGiB)
          << "raised a's target to " << c.target_bytes;
    }
    EXPECT_LE(SumAfter(now, s), budget) << "tick " << i;
  }
  EXPECT_TRUE(act_.IsStuck("a"));
}

TEST_F(ActuatorTest, GrowTimeoutWithdrawsTheGrantButNotBelowMin) {
  const FmemPlan want = Desire({6 * kGiB, 2 * kGiB});
  auto snap = [&](uint64_t at, uint64_t aa) {
    return SnapOf(8 * kGiB, 8 * kGiB,
                  {{Config(3 * kGiB, 8 * kGiB), State(at, aa)},
                   {Config(0, 8 * kGiB), State(2 * kGiB, 2 * kGiB)}},
                  clock_.Now());
  };
  // A VM started below its min grows and never takes the grant.
  ActuatorStep s = act_.Tick(snap(1 * kGiB, 1 * kGiB), want);
  ASSERT_EQ(s.commands.size(), 1u);
  EXPECT_EQ(s.commands[0].target_bytes, 6 * kGiB);
  clock_.Advance(absl::Seconds(30));
  s = act_.Tick(snap(6 * kGiB, 1 * kGiB), want);
  EXPECT_TRUE(HasEvent(s, "a", MoveEventKind::kGrowTimedOut));
  ASSERT_EQ(s.commands.size(), 1u);
  EXPECT_EQ(s.commands[0].target_bytes, 3 * kGiB);  // min, not actual
}

TEST_F(ActuatorTest, BudgetCutLowersTargetsOfVmsInFlight) {
  // b is growing when the budget drops from 8 to 5 GiB: holding its
  // target would leave Σ targets above the budget.
  const FmemPlan want = Desire({2 * kGiB, 6 * kGiB});
  act_.Tick(SnapOf(8 * kGiB, 4 * kGiB,
                   {{Config(0, 8 * kGiB), State(2 * kGiB, 2 * kGiB)},
                    {Config(0, 8 * kGiB), State(2 * kGiB, 2 * kGiB)}},
                   clock_.Now()),
            want);
  ASSERT_EQ(act_.state("b"), MoveState::kGrowing);
  clock_.Advance(absl::Seconds(5));
  const HostSnapshot cut =
      SnapOf(5 * kGiB, 4 * kGiB,
             {{Config(0, 8 * kGiB), State(2 * kGiB, 2 * kGiB)},
              {Config(0, 8 * kGiB), State(6 * kGiB, 3 * kGiB)}},
             clock_.Now());
  ActuatorStep s = act_.Tick(cut, Desire({2 * kGiB, 3 * kGiB}));
  ASSERT_EQ(s.commands.size(), 1u);
  EXPECT_EQ(s.commands[0].vm, "b");
  EXPECT_EQ(s.commands[0].target_bytes, 3 * kGiB);
  EXPECT_LE(SumAfter(cut, s), 5 * kGiB);
}

TEST_F(ActuatorTest, FirstTickAdoptsMovesInFlight) {
  // A previous agent left a shrinking and b growing.
  ActuatorStep s = act_.Tick(Snap(2 * kGiB, 4 * kGiB, 4 * kGiB, 2 * kGiB),
                             Desire({2 * kGiB, 6 * kGiB}));
  EXPECT_TRUE(HasEvent(s, "a", MoveEventKind::kAdoptedShrink));
  EXPECT_TRUE(HasEvent(s, "b", MoveEventKind::kAdoptedGrow));
  EXPECT_TRUE(s.commands.empty());  // both held until they settle
  EXPECT_EQ(act_.state("a"), MoveState::kShrinking);
  EXPECT_EQ(act_.state("b"), MoveState::kGrowing);
}

TEST_F(ActuatorTest, VanishedVmsAreForgotten) {
  act_.Tick(Snap(6 * kGiB, 6 * kGiB, 2 * kGiB, 2 * kGiB),
            Desire({2 * kGiB, 6 * kGiB}));
  ASSERT_EQ(act_.state("a"), MoveState::kShrinking);
  HostSnapshot::Builder bld;
  bld.SetHost(8 * kGiB, 6 * kGiB, clock_.Now())
      .AddVm("b", Config(0, 8 * kGiB), State(2 * kGiB, 2 * kGiB));
  HostSnapshot only_b = *std::move(bld).Build();
  act_.Tick(only_b, Desire({2 * kGiB}));
  EXPECT_EQ(act_.state("a"), MoveState::kIdle);
}

TEST(MoveStateName, Names) {
  EXPECT_STREQ(MoveStateName(MoveState::kWaitingForDonors),
               "waiting-for-donors");
  EXPECT_STREQ(MoveStateName(MoveState::kStuck), "stuck");
}

}  // namespace
}  // namespace tiervm::agent

#include "core/actuation_planner.h"

#include <vector>

#include "agent_test_util.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using testing::Config;
using testing::State;

const absl::Time kNow = absl::FromUnixSeconds(1'000'000);

FmemPlan Desire(std::vector<uint64_t> bytes) {
  FmemPlan p;
  p.policy = "test";
  for (uint64_t b : bytes) p.vms.push_back({b, GuardVerdict::kFree});
  return p;
}

HostSnapshot Snap(uint64_t budget, uint64_t host_free,
                  std::vector<VmTierState> states) {
  HostSnapshot::Builder b;
  b.SetHost(budget, host_free, kNow);
  char id[] = "a";
  for (const VmTierState& s : states) {
    b.AddVm(id, Config(0, 64 * kGiB), s);
    ++id[0];
  }
  return *std::move(b).Build();
}

TEST(PlanActuation, ShrinksAtOnceAndRecipientsWaitForDonors) {
  // Budget fully used; a gives 2 GiB to b.  The host has nothing free yet.
  HostSnapshot s =
      Snap(8 * kGiB, 0, {State(6 * kGiB, 6 * kGiB), State(2 * kGiB, 2 * kGiB)});
  ActuationPlan p = PlanActuation(s, Desire({4 * kGiB, 4 * kGiB}));
  ASSERT_EQ(p.shrinks.size(), 1u);
  EXPECT_EQ(p.shrinks[0].vm_index, 0u);
  EXPECT_EQ(p.shrinks[0].to_target_bytes, 4 * kGiB);
  EXPECT_TRUE(p.grows.empty());
  ASSERT_EQ(p.waiting.size(), 1u);
  EXPECT_EQ(p.waiting[0].waiting_bytes, 2 * kGiB);
  EXPECT_EQ(p.grant_room_bytes, 0u);
}

TEST(PlanActuation, MeasuredResidencyAboveActualIsCharged) {
  // b's device reports 2 GiB, but 4 GiB are resident for it: only 2 GiB
  // of the 8 GiB budget are left for a, not 4.
  VmTierState b = State(2 * kGiB, 2 * kGiB);
  b.fmem_resident_bytes = 4 * kGiB;
  HostSnapshot s = Snap(8 * kGiB, 8 * kGiB, {State(2 * kGiB, 2 * kGiB), b});
  ActuationPlan p = PlanActuation(s, Desire({6 * kGiB, 2 * kGiB}));
  EXPECT_EQ(p.sum_committed_bytes, 6 * kGiB);
  ASSERT_EQ(p.grows.size(), 1u);
  EXPECT_EQ(p.grows[0].to_target_bytes, 4 * kGiB);
  ASSERT_EQ(p.waiting.size(), 1u);
  EXPECT_EQ(p.waiting[0].waiting_bytes, 2 * kGiB);
}

TEST(PlanActuation, MeasuredResidencyBelowActualDoesNotLowerTheCharge) {
  VmTierState b = State(4 * kGiB, 4 * kGiB);
  b.fmem_resident_bytes = 1 * kGiB;  // not touched yet, still b's
  HostSnapshot s = Snap(8 * kGiB, 8 * kGiB, {State(2 * kGiB, 2 * kGiB), b});
  ActuationPlan p = PlanActuation(s, Desire({6 * kGiB, 4 * kGiB}));
  EXPECT_EQ(p.sum_committed_bytes, 6 * kGiB);
  ASSERT_EQ(p.grows.size(), 1u);
  EXPECT_EQ(p.grows[0].to_target_bytes, 4 * kGiB);
}

TEST(PlanActuation, GrowsOnceTheDonorsActualHasDropped) {
  // a's actual is down to 4 GiB: 2 GiB are free on the host and in budget.
  HostSnapshot s = Snap(8 * kGiB, 2 * kGiB,
                        {State(4 * kGiB, 4 * kGiB), State(2 * kGiB, 2 * kGiB)});
  ActuationPlan p = PlanActuation(s, Desire({4 * kGiB, 4 * kGiB}));
  EXPECT_TRUE(p.shrinks.empty());
  ASSERT_EQ(p.grows.size(), 1u);
  EXPECT_EQ(p.grows[0].from_target_bytes, 2 * kGiB);
  EXPECT_EQ(p.grows[0].to_target_bytes, 4 * kGiB);
  EXPECT_TRUE(p.waiting.empty());
}

TEST(PlanActuation, PartialDonorProgressGivesPartialGrant) {
  HostSnapshot s = Snap(8 * kGiB, kGiB,
                        {State(4 * kGiB, 5 * kGiB), State(2 * kGiB, 2 * kGiB)});
  ActuationPlan p = PlanActuation(s, Desire({4 * kGiB, 4 * kGiB}));
  ASSERT_EQ(p.grows.size(), 1u);
  EXPECT_EQ(p.grows[0].to_target_bytes, 3 * kGiB);
  ASSERT_EQ(p.waiting.size(), 1u);
  EXPECT_EQ(p.waiting[0].waiting_bytes, kGiB);
}

TEST(PlanActuation, NeverPromisesFmemTheHostDoesNotHave) {
  // Plenty of budget, but the host (other tenants) has only 1 GiB free.
  HostSnapshot s = Snap(64 * kGiB, kGiB, {State(2 * kGiB, 2 * kGiB)});
  ActuationPlan p = PlanActuation(s, Desire({8 * kGiB}));
  ASSERT_EQ(p.grows.size(), 1u);
  EXPECT_EQ(p.grows[0].to_target_bytes, 3 * kGiB);
}

TEST(PlanActuation, OutstandingGrantsAreNotPromisedTwice) {
  // a was granted 2 GiB it has not taken yet; the 2 GiB free are spoken for.
  HostSnapshot s = Snap(64 * kGiB, 2 * kGiB,
                        {State(4 * kGiB, 2 * kGiB), State(2 * kGiB, 2 * kGiB)});
  ActuationPlan p = PlanActuation(s, Desire({4 * kGiB, 4 * kGiB}));
  EXPECT_TRUE(p.grows.empty());
  EXPECT_EQ(p.waiting.size(), 1u);
}

TEST(PlanActuation, SettlingDonorCanBeRaisedWithinWhatItHolds) {
  // a was asked down to 2 GiB but still holds 4; the policy now wants 3:
  // raising its target to 3 costs nothing.
  HostSnapshot s = Snap(4 * kGiB, 0, {State(2 * kGiB, 4 * kGiB)});
  ActuationPlan p = PlanActuation(s, Desire({3 * kGiB}));
  ASSERT_EQ(p.grows.size(), 1u);
  EXPECT_EQ(p.grows[0].to_target_bytes, 3 * kGiB);
}

TEST(PlanActuation, HeldVmsAreLeftAlone) {
  HostSnapshot s =
      Snap(8 * kGiB, 4 * kGiB, {State(4 * kGiB, 4 * kGiB), State(0, 0)});
  const bool hold[] = {true, true};
  ActuationPlan p = PlanActuation(s, Desire({2 * kGiB, 2 * kGiB}), hold);
  EXPECT_TRUE(p.shrinks.empty());
  EXPECT_TRUE(p.grows.empty());
  EXPECT_TRUE(p.waiting.empty());
}

TEST(PlanActuation, OvercommittedHostOnlyShrinks) {
  // Read back after a budget cut: Σ committed 10 GiB > budget 8 GiB.
  HostSnapshot s = Snap(8 * kGiB, 8 * kGiB,
                        {State(6 * kGiB, 6 * kGiB), State(4 * kGiB, 4 * kGiB)});
  ActuationPlan p = PlanActuation(s, Desire({3 * kGiB, 5 * kGiB}));
  EXPECT_EQ(p.shrinks.size(), 1u);
  EXPECT_TRUE(p.grows.empty());  // 9 GiB committed still > 8 GiB
}

TEST(PlanActuation, OvercommittedHostRaisesNoTargetEvenWithinWhatAVmHolds) {
  // a's guest took 3 GiB back on its own (actual 4 > target 1); b is held
  // mid-move at 3 GiB.  Raising a to 3 GiB "within what it holds" would
  // make Σ targets 6 GiB against a 4 GiB budget.
  HostSnapshot s = Snap(4 * kGiB, 0, {State(1 * kGiB, 4 * kGiB),
                                      State(3 * kGiB, 3 * kGiB)});
  const bool hold[] = {false, true};
  ActuationPlan p = PlanActuation(s, Desire({3 * kGiB, 1 * kGiB}), hold);
  EXPECT_TRUE(p.over_budget);
  EXPECT_EQ(p.sum_committed_bytes, 7 * kGiB);
  EXPECT_TRUE(p.grows.empty());
  ASSERT_EQ(p.waiting.size(), 1u);
  EXPECT_EQ(p.waiting[0].vm_index, 0u);
}

TEST(PlanActuation, TargetsOverBudgetAreLoweredEvenWhenHeld) {
  // The budget was cut to 4 GiB under two held VMs of 3 GiB each.
  HostSnapshot s = Snap(4 * kGiB, 8 * kGiB, {State(3 * kGiB, 3 * kGiB),
                                             State(3 * kGiB, 2 * kGiB)});
  const bool hold[] = {true, true};
  ActuationPlan p = PlanActuation(s, Desire({2 * kGiB, 2 * kGiB}), hold);
  ASSERT_EQ(p.shrinks.size(), 2u);
  EXPECT_EQ(p.shrinks[0].to_target_bytes, 2 * kGiB);
  EXPECT_EQ(p.shrinks[1].to_target_bytes, 2 * kGiB);
}

}  // namespace
}  // namespace tiervm::agent

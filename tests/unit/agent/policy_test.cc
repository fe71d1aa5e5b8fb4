#include "core/policy.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent_test_util.h"
#include "core/hotness_curve.h"
#include "core/policy_registry.h"
#include "core/proportional_policy.h"
#include "core/static_policy.h"
#include "core/utility_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using testing::Config;
using testing::Curve;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::State;

const absl::Time kNow = absl::FromUnixSeconds(1'000'000);

// A policy that only exists in this test binary, registered the oomd way.
class HalfPolicy final : public FmemPolicy {
 public:
  std::string_view name() const override { return "test-half"; }
  FmemPlan Decide(const HostSnapshot& snap) const override {
    FmemPlan p;
    p.policy = "test-half";
    for (const VmView& vm : snap.vms()) {
      p.vms.push_back({vm.config.min_fmem_bytes, GuardVerdict::kFree});
    }
    return p;
  }
};
TIERVM_REGISTER_POLICY(test_half, "test-half",
                       [](const PolicyArgs&)
                           -> absl::StatusOr<std::unique_ptr<FmemPolicy>> {
                         return std::make_unique<HalfPolicy>();
                       });

std::unique_ptr<FmemPolicy> Make(std::string_view name, PolicyArgs args = {}) {
  absl::StatusOr<std::unique_ptr<FmemPolicy>> p =
      PolicyRegistry::Global().Create(name, args);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

// Guard wide open, so the tests below see the policies' own choices.
PolicyArgs Unbounded() {
  PolicyArgs a;
  a.guard.min_shrink_step_bytes = 1024 * kGiB;
  a.guard.max_grow_step_bytes = 1024 * kGiB;
  return a;
}

TEST(PolicyRegistry, HasTheBuiltinsAndTheMacroRegisteredPolicy) {
  EXPECT_THAT(PolicyRegistry::Global().Names(),
              ElementsAre("proportional", "static", "test-half", "utility"));
  EXPECT_EQ(kDefaultPolicy, "utility");
  EXPECT_EQ(Make("utility")->name(), "utility");
  EXPECT_EQ(Make("proportional")->name(), "proportional");
  EXPECT_EQ(Make("static")->name(), "static");
  EXPECT_EQ(Make("test-half")->name(), "test-half");
}

TEST(PolicyRegistry, UnknownNameIsNotFoundAndListsKnownNames) {
  absl::StatusOr<std::unique_ptr<FmemPolicy>> p =
      PolicyRegistry::Global().Create("senpai9000", {});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr("known: proportional, static"));
}

TEST(PolicyRegistry, DuplicateAndEmptyNamesAreRefused) {
  PolicyRegistry r;
  RegisterBuiltinPolicies(r);
  EXPECT_EQ(r.Register("utility", MakeUtilityPolicy).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r.Register("", MakeUtilityPolicy).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PolicyRegistry, BadArgsAreInvalidArgument) {
  PolicyArgs a;
  a.granule_bytes = 3 * kMiB;
  for (const char* name : {"utility", "proportional", "static"}) {
    EXPECT_EQ(PolicyRegistry::Global().Create(name, a).status().code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
}

TEST(UtilityPolicy, HotVmGetsTheFmemAndIdleVmFallsToItsMinimum) {
  HostSnapshot::Builder b;
  b.SetHost(8 * kGiB, 0, kNow)
      // a: 90 % of accesses in its hottest 6 GiB.
      .AddVm("a", Config(kGiB, 8 * kGiB), State(4 * kGiB, 4 * kGiB),
             Curve(kNow, 6 * kGiB, 900'000, 8 * kGiB))
      // b: everything it touches fits in 256 MiB.
      .AddVm("b", Config(kGiB, 8 * kGiB), State(4 * kGiB, 4 * kGiB),
             Curve(kNow, 128 * kMiB, 900'000, 256 * kMiB));
  HostSnapshot s = *std::move(b).Build();
  const FmemPlan p = Make("utility", Unbounded())->Decide(s);
  ASSERT_TRUE(ValidatePlan(s, p).ok());
  EXPECT_EQ(p.vms[1].desired_fmem_bytes, kGiB);
  EXPECT_EQ(p.vms[0].desired_fmem_bytes, 7 * kGiB);
}

TEST(UtilityPolicy, LeavesFmemNobodyBenefitsFromUnassigned) {
  HostSnapshot::Builder b;
  b.SetHost(64 * kGiB, 0, kNow)
      .AddVm("a", Config(0, 32 * kGiB), State(kGiB, kGiB),
             Curve(kNow, kGiB, 900'000, 2 * kGiB));
  HostSnapshot s = *std::move(b).Build();
  const FmemPlan p = Make("utility", Unbounded())->Decide(s);
  EXPECT_EQ(p.vms[0].desired_fmem_bytes, 2 * kGiB);
}

TEST(UtilityPolicy, WeightBreaksEqualCurves) {
  HostSnapshot::Builder b;
  b.SetHost(4 * kGiB, 0, kNow)
      .AddVm("a", Config(0, 4 * kGiB, 1), State(2 * kGiB, 2 * kGiB),
             Curve(kNow, 2 * kGiB, 500'000, 4 * kGiB))
      .AddVm("b", Config(0, 4 * kGiB, 2), State(2 * kGiB, 2 * kGiB),
             Curve(kNow, 2 * kGiB, 500'000, 4 * kGiB));
  HostSnapshot s = *std::move(b).Build();
  const FmemPlan p = Make("utility", Unbounded())->Decide(s);
  EXPECT_EQ(p.vms[0].desired_fmem_bytes, 0u);
  EXPECT_EQ(p.vms[1].desired_fmem_bytes, 4 * kGiB);
}

TEST(UtilityPolicy, ObjectiveIsNoWorseThanProportional) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    HostSnapshot::Builder b;
    b.SetHost(16 * kGiB, 0, kNow);
    for (int i = 0; i < 6; ++i) {
      // Concave curves (hot slope >= tail slope), where greedy is optimal.
      const uint64_t hot = (1 + rng() % 4) * 512 * kMiB;
      b.AddVm("vm" + std::to_string(i), Config(0, 8 * kGiB, 1 + rng() % 3),
              State(2 * kGiB, 2 * kGiB),
              Curve(kNow, hot, 500'000 + rng() % 400'000, hot + 2 * kGiB));
    }
    HostSnapshot s = *std::move(b).Build();
    auto objective = [&](const FmemPlan& p) {
      double sum = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        sum +=
            s.vm(i).config.weight * ServedSharePpm(s.vm(i).telemetry->hotness,
                                                   p.vms[i].desired_fmem_bytes);
      }
      return sum;
    };
    const double u = objective(Make("utility", Unbounded())->Decide(s));
    const double q = objective(Make("proportional", Unbounded())->Decide(s));
    EXPECT_GE(u, q * 0.999) << "round " << round;
  }
}

TEST(UtilityPolicy, IsDeterministic) {
  HostSnapshot::Builder b;
  b.SetHost(4 * kGiB, 0, kNow);
  for (int i = 0; i < 8; ++i) {
    b.AddVm("vm" + std::to_string(i), Config(0, 4 * kGiB),
            State(512 * kMiB, 512 * kMiB),
            Curve(kNow, kGiB, 600'000, 2 * kGiB));
  }
  HostSnapshot s = *std::move(b).Build();
  const FmemPlan p1 = Make("utility")->Decide(s);
  const FmemPlan p2 = Make("utility")->Decide(s);
  for (size_t i = 0; i < s.size(); ++i) {
    EXPECT_EQ(p1.vms[i].desired_fmem_bytes, p2.vms[i].desired_fmem_bytes);
  }
}

TEST(UtilityPolicy, RespectsGranule) {
  HostSnapshot::Builder b;
  b.SetHost(kGiB + 3 * kMiB, 0, kNow)
      .AddVm("a", Config(0, 4 * kGiB), State(0, 0),
             Curve(kNow, 2 * kGiB, 600'000, 4 * kGiB));
  HostSnapshot s = *std::move(b).Build();
  const FmemPlan p = Make("utility", Unbounded())->Decide(s);
  EXPECT_EQ(p.vms[0].desired_fmem_bytes, kGiB + 2 * kMiB);
}

TEST(ProportionalPolicy, SplitsByWeightAndRedistributesCappedShares) {
  HostSnapshot::Builder b;
  b.SetHost(12 * kGiB, 0, kNow)
      .AddVm("a", Config(0, 16 * kGiB, 1), State(0, 0))
      .AddVm("b", Config(0, 16 * kGiB, 2), State(0, 0))
      .AddVm("c", Config(0, 2 * kGiB, 3), State(0, 0));
  HostSnapshot s = *std::move(b).Build();
  const FmemPlan p = Make("proportional", Unbounded())->Decide(s);
  ASSERT_TRUE(ValidatePlan(s, p).ok());
  // c is capped at 2 GiB; a and b split the other 10 GiB 1:2.
  EXPECT_EQ(p.vms[2].desired_fmem_bytes, 2 * kGiB);
  EXPECT_NEAR(static_cast<double>(p.vms[0].desired_fmem_bytes), 10.0 * kGiB / 3,
              4 * kMiB);
  EXPECT_NEAR(static_cast<double>(p.vms[1].desired_fmem_bytes), 20.0 * kGiB / 3,
              4 * kMiB);
}

TEST(StaticPolicy, KeepsTargetsWithinBoundsAndBudget) {
  HostSnapshot::Builder b;
  b.SetHost(6 * kGiB, 0, kNow)
      .AddVm("a", Config(kGiB, 3 * kGiB), State(4 * kGiB, 4 * kGiB))
      .AddVm("b", Config(kGiB, 8 * kGiB), State(2 * kGiB, 2 * kGiB));
  HostSnapshot s = *std::move(b).Build();
  FmemPlan p = Make("static")->Decide(s);
  EXPECT_EQ(p.vms[0].desired_fmem_bytes, 3 * kGiB);
  EXPECT_EQ(p.vms[1].desired_fmem_bytes, 2 * kGiB);

  HostSnapshot::Builder b2;
  b2.SetHost(4 * kGiB, 0, kNow)
      .AddVm("a", Config(kGiB, 8 * kGiB), State(4 * kGiB, 4 * kGiB))
      .AddVm("b", Config(kGiB, 8 * kGiB), State(2 * kGiB, 2 * kGiB));
  HostSnapshot s2 = *std::move(b2).Build();
  p = Make("static")->Decide(s2);
  ASSERT_TRUE(ValidatePlan(s2, p).ok());
  // 4 GiB excess above the minimums must shrink to 2: each keeps half.
  EXPECT_EQ(p.vms[0].desired_fmem_bytes, kGiB + 3 * kGiB / 2);
  EXPECT_EQ(p.vms[1].desired_fmem_bytes, kGiB + kGiB / 2);
}

// Property: every built-in policy honours min/max and the budget on random
// snapshots, including stale, empty and extreme telemetry.
TEST(Policies, RandomSnapshotsAlwaysYieldValidPlans) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 300; ++round) {
    const int n = 1 + static_cast<int>(rng() % 12);
    HostSnapshot::Builder b;
    uint64_t sum_min = 0;
    std::vector<std::pair<VmConfig, VmTierState>> vms;
    for (int i = 0; i < n; ++i) {
      const uint64_t min = (rng() % 4) * kGiB;
      const uint64_t max = min + (rng() % 16) * kGiB;
      const uint64_t target = rng() % (max + 4 * kGiB + 1);
      sum_min += min;
      VmConfig c = Config(min, max, 1 + rng() % kMaxVmWeight);
      std::optional<Telemetry> t;
      switch (rng() % 4) {
        case 0:
          break;
        case 1:
          t = Curve(kNow - absl::Seconds(rng() % 60), 1 + rng() % (8 * kGiB),
                    rng() % kPpmOne, 8 * kGiB + 1, rng() % 40'000);
          break;
        case 2:
          t = Telemetry{};
          t->received = kNow;
          break;
        case 3:
          t = Curve(kNow, 4 * kKiB, kPpmOne, 8 * kKiB);  // extreme claim
          break;
      }
      b.AddVm("vm" + std::to_string(i), c, State(target, rng() % (target + 1)),
              t);
    }
    b.SetHost(sum_min + (rng() % 64) * kGiB, rng() % (32 * kGiB), kNow);
    absl::StatusOr<HostSnapshot> s = std::move(b).Build();
    ASSERT_TRUE(s.ok()) << s.status();
    for (const char* name : {"utility", "proportional", "static"}) {
      const FmemPlan p = Make(name)->Decide(*s);
      ASSERT_TRUE(ValidatePlan(*s, p).ok())
          << name << " round " << round << ": " << ValidatePlan(*s, p);
    }
  }
}

TEST(ValidatePlan, CatchesContractViolations) {
  HostSnapshot::Builder b;
  b.SetHost(4 * kGiB, 0, kNow).AddVm("a", Config(kGiB, 3 * kGiB), State(0, 0));
  HostSnapshot s = *std::move(b).Build();
  FmemPlan p;
  p.policy = "bad";
  EXPECT_EQ(ValidatePlan(s, p).code(), absl::StatusCode::kInternal);
  p.vms = {{4 * kGiB, GuardVerdict::kFree}};
  EXPECT_EQ(ValidatePlan(s, p).code(), absl::StatusCode::kInternal);
  p.vms = {{2 * kGiB, GuardVerdict::kFree}};
  EXPECT_TRUE(ValidatePlan(s, p).ok());
}

}  // namespace
}  // namespace tiervm::agent

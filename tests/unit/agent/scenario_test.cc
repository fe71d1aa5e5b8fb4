// End-to-end scenarios for the core: AgentCore driving a simulated host
// (FakeHost) tick by tick, with invariants checked at every tick.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent_test_util.h"
#include "core/agent_core.h"
#include "core/telemetry_sanitizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using testing::Config;
using testing::Curve;
using testing::FakeHost;
using ::testing::HasSubstr;

constexpr absl::Duration kTick = absl::Seconds(5);

AgentCoreConfig CoreConfig() {
  AgentCoreConfig c;
  c.actuator.shrink_timeout = absl::Seconds(30);
  c.actuator.grow_timeout = absl::Seconds(30);
  c.pressure.high_free_bytes = 256 * kMiB;
  c.pressure.min_low_free_bytes = 512 * kMiB;
  c.pressure.initial_low_free_bytes = 1 * kGiB;
  c.pressure.max_low_free_bytes = 4 * kGiB;
  c.pressure.adapt_period = absl::Minutes(1);
  return c;
}

std::unique_ptr<AgentCore> NewCore(const Clock& clock,
                                   AgentCoreConfig config = CoreConfig()) {
  absl::StatusOr<std::unique_ptr<AgentCore>> core =
      AgentCore::Create(config, clock);
  EXPECT_TRUE(core.ok()) << core.status();
  return core.ok() ? *std::move(core) : nullptr;
}

// a: 90 % of accesses in 8 GiB; b: idle, everything in 256 MiB.
void AddHotAndIdle(FakeHost& host, absl::Time now, uint64_t a_bytes,
                   uint64_t b_bytes) {
  host.AddVm("a", Config(kGiB, 10 * kGiB), a_bytes).telemetry =
      Curve(now, 8 * kGiB, 900'000, 10 * kGiB);
  host.AddVm("b", Config(kGiB, 10 * kGiB), b_bytes).telemetry =
      Curve(now, 128 * kMiB, 950'000, 256 * kMiB);
}

// The guests report every tick.
void Refresh(FakeHost& host, absl::Time now) {
  for (const char* id : {"a", "b"}) host.vm(id).telemetry->received = now;
}

// One agent period: snapshot, decide, apply, let the balloons move.
// Returns the tick result; checks Σ targets <= budget after applying.
TickResult RunTick(AgentCore& core, FakeHost& host, FakeClock& clock) {
  Refresh(host, clock.Now());
  const HostSnapshot snap = host.Snapshot(clock.Now());
  absl::StatusOr<TickResult> r = core.Tick(snap);
  EXPECT_TRUE(r.ok()) << r.status();
  host.Apply(r->actuation.commands);
  EXPECT_LE(host.SumTargets(), host.budget_bytes());
  host.Step();
  clock.Advance(kTick);
  return *std::move(r);
}

TEST(AgentScenario, FmemMovesFromIdleToHotVmWithinBudgetEveryTick) {
  FakeClock clock;
  FakeHost host(16 * kGiB, 12 * kGiB, /*step_bytes=*/1 * kGiB);
  AddHotAndIdle(host, clock.Now(), 4 * kGiB, 8 * kGiB);
  auto core = NewCore(clock);

  int ticks = 0;
  while (ticks < 60 && host.vm("a").actual_bytes < 10 * kGiB) {
    RunTick(*core, host, clock);
    ASSERT_FALSE(::testing::Test::HasFailure()) << "tick " << ticks;
    ++ticks;
  }
  EXPECT_LE(ticks, 40) << "convergence took too long";
  EXPECT_EQ(host.vm("a").target_bytes, 10 * kGiB);
  EXPECT_LE(host.vm("b").target_bytes, 2 * kGiB);
  EXPECT_GE(host.vm("b").target_bytes, 1 * kGiB);
}

TEST(AgentScenario, StuckDonorTimesOutAndNothingIsHandedOn) {
  FakeClock clock;
  FakeHost host(16 * kGiB, 12 * kGiB, 1 * kGiB);
  AddHotAndIdle(host, clock.Now(), 4 * kGiB, 8 * kGiB);
  host.vm("b").frozen = true;  // b's balloon driver is wedged
  auto core = NewCore(clock);

  bool timed_out = false;
  for (int i = 0; i < 20; ++i) {
    TickResult r = RunTick(*core, host, clock);
    ASSERT_FALSE(::testing::Test::HasFailure()) << "tick " << i;
    for (const MoveEvent& e : r.actuation.events) {
      if (e.vm == "b" && e.kind == MoveEventKind::kShrinkTimedOut) {
        timed_out = true;
      }
    }
    // a may only grow from FMEM b really released: none.
    EXPECT_EQ(host.vm("a").target_bytes, 4 * kGiB) << "tick " << i;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_TRUE(core->actuator().IsStuck("b"));
  // b keeps the lower target it was asked for (never raised on timeout)
  // and stays charged for the 8 GiB it holds.
  EXPECT_LT(host.vm("b").target_bytes, 8 * kGiB);
  EXPECT_EQ(host.vm("b").actual_bytes, 8 * kGiB);
}

TEST(AgentScenario, HostStartingOverBudgetKeepsLowerTargetsAndHoldsPressureHigh) {
  // An agent starts (or its budget was cut) on a host whose guests hold
  // 14 GiB against a 12 GiB budget; b's guest even sits above its target.
  // Plenty of FMEM is free, so only the budget says "give memory back".
  FakeClock clock;
  FakeHost host(32 * kGiB, 12 * kGiB, 512 * kMiB);
  AddHotAndIdle(host, clock.Now(), 6 * kGiB, 6 * kGiB);
  host.vm("b").target_bytes = 4 * kGiB;
  host.vm("b").actual_bytes = 8 * kGiB;
  host.vm("b").frozen = true;  // not giving anything back yet
  auto core = NewCore(clock);
  for (int i = 0; i < 4; ++i) {
    TickResult r = RunTick(*core, host, clock);
    EXPECT_TRUE(r.over_budget) << "tick " << i;
    EXPECT_EQ(r.host_pressure, PressureLevel::kHigh) << "tick " << i;
    EXPECT_EQ(r.vm_pressure[1], PressureLevel::kHigh) << "tick " << i;
    EXPECT_LE(host.vm("b").target_bytes, 4 * kGiB) << "b's target raised";
    EXPECT_LE(host.vm("a").target_bytes, 6 * kGiB) << "a grew over budget";
  }
  host.vm("b").frozen = false;
  TickResult r;
  for (int i = 0; i < 40; ++i) {
    r = RunTick(*core, host, clock);
    ASSERT_FALSE(::testing::Test::HasFailure()) << "tick " << i;
    if (!r.over_budget) break;
    EXPECT_EQ(r.host_pressure, PressureLevel::kHigh) << "tick " << i;
  }
  EXPECT_FALSE(r.over_budget);
  EXPECT_EQ(r.host_pressure, PressureLevel::kNone);
}

TEST(AgentScenario, GuestHoldingMoreThanItsBalloonAllowsIsFlaggedAndCharged) {
  // b's device says 4 GiB (target = actual) but its QEMU has 7 GiB
  // resident on the FMEM node: the guest touched ballooned pages.  The
  // device's count alone would leave 2 GiB of budget room for a.
  FakeClock clock;
  FakeHost host(32 * kGiB, 12 * kGiB, 512 * kMiB);
  AddHotAndIdle(host, clock.Now(), 6 * kGiB, 4 * kGiB);
  host.vm("b").config = Config(kGiB, 4 * kGiB);  // b may not have more
  host.vm("b").resident_bytes = 7 * kGiB;
  host.vm("b").frozen = true;
  host.vm("a").config = Config(kGiB, 10 * kGiB);
  auto core = NewCore(clock);
  for (int i = 0; i < 4; ++i) {
    TickResult r = RunTick(*core, host, clock);
    ASSERT_EQ(r.vm_over_target.size(), 2u);
    EXPECT_FALSE(r.vm_over_target[0]) << "tick " << i;
    EXPECT_TRUE(r.vm_over_target[1]) << "tick " << i;
    // 6 + 7 GiB held against 12: over budget, so nobody grows and every
    // guest is asked to give memory back.
    EXPECT_TRUE(r.over_budget) << "tick " << i;
    EXPECT_EQ(r.sum_committed_bytes, 13 * kGiB) << "tick " << i;
    EXPECT_EQ(r.host_pressure, PressureLevel::kHigh) << "tick " << i;
    EXPECT_LE(host.vm("a").target_bytes, 6 * kGiB) << "a grew into b's excess";
  }
  // Within the tolerance (64 MiB here) is not flagged: QEMU's own memory.
  // (b's target may have been lowered meanwhile: it was asked to shrink.)
  host.vm("b").resident_bytes = host.vm("b").target_bytes + 32 * kMiB;
  TickResult r = RunTick(*core, host, clock);
  EXPECT_FALSE(r.vm_over_target[1]);
  // Unmeasured: the device's count is all there is.
  host.vm("b").resident_bytes.reset();
  r = RunTick(*core, host, clock);
  EXPECT_FALSE(r.vm_over_target[1]);
}

TEST(AgentScenario, GuestThatDeflatedOnItsOwnIsFlaggedOnceItsShrinkTimesOut) {
  // b deflated everything: its device admits 8 GiB against a 4 GiB
  // target, and 8 GiB are resident.  The agent treats that as a shrink in
  // flight first; a guest that never gives it back is flagged.
  FakeClock clock;
  FakeHost host(32 * kGiB, 16 * kGiB, 512 * kMiB);
  AddHotAndIdle(host, clock.Now(), 6 * kGiB, 4 * kGiB);
  host.vm("b").actual_bytes = 8 * kGiB;
  host.vm("b").resident_bytes = 8 * kGiB;
  host.vm("b").frozen = true;
  auto core = NewCore(clock);
  TickResult r = RunTick(*core, host, clock);
  EXPECT_FALSE(r.vm_over_target[1]) << "flagged while its shrink is in flight";
  for (int i = 0; i < 10 && !core->actuator().IsStuck("b"); ++i) {
    r = RunTick(*core, host, clock);
  }
  ASSERT_TRUE(core->actuator().IsStuck("b"));
  r = RunTick(*core, host, clock);
  EXPECT_TRUE(r.vm_over_target[1]);
}

TEST(AgentScenario, RestartMidMoveAdoptsStateAndStaysWithinBudget) {
  FakeClock clock;
  // Slow balloons (256 MiB per tick) so moves are in flight at restart.
  FakeHost host(16 * kGiB, 12 * kGiB, 256 * kMiB);
  AddHotAndIdle(host, clock.Now(), 4 * kGiB, 8 * kGiB);
  auto core = NewCore(clock);
  for (int i = 0; i < 3; ++i) RunTick(*core, host, clock);
  ASSERT_NE(host.vm("b").target_bytes, host.vm("b").actual_bytes)
      << "the restart should happen mid-move";

  core = NewCore(clock);  // the agent restarts: no memory of the move
  TickResult first = RunTick(*core, host, clock);
  bool adopted = false;
  for (const MoveEvent& e : first.actuation.events) {
    adopted |= e.vm == "b" && e.kind == MoveEventKind::kAdoptedShrink;
  }
  EXPECT_TRUE(adopted);
  for (int i = 0; i < 150 && host.vm("a").actual_bytes < 10 * kGiB; ++i) {
    RunTick(*core, host, clock);
    ASSERT_FALSE(::testing::Test::HasFailure()) << "tick " << i;
  }
  EXPECT_EQ(host.vm("a").actual_bytes, 10 * kGiB);
  EXPECT_FALSE(core->actuator().IsStuck("b"));
}

TEST(AgentScenario, LyingAndMalformedTelemetryHasBoundedEffect) {
  FakeClock clock;
  FakeHost host(32 * kGiB, 12 * kGiB, 1 * kGiB);
  TelemetryStore store({.min_interval = absl::Seconds(1)});
  const uint64_t guest_bytes = 16 * kGiB;
  // Two honest VMs with real demand and a liar capped at 4 GiB.
  host.AddVm("a", Config(2 * kGiB, 10 * kGiB), 4 * kGiB);
  host.AddVm("b", Config(2 * kGiB, 10 * kGiB), 4 * kGiB);
  host.AddVm("liar", Config(1 * kGiB, 4 * kGiB), 4 * kGiB);
  RawTelemetry honest;
  honest.hotness = {{int64_t{6} << 30, 800'000}, {int64_t{10} << 30, kPpmOne}};
  RawTelemetry lie;  // "all my accesses hit one page", PSI off the chart
  lie.hotness = {{4096, kPpmOne}};
  lie.psi_some_ppm = kPpmOne;
  lie.psi_full_ppm = kPpmOne;
  RawTelemetry garbage;
  garbage.hotness = {{int64_t{8} << 30, 900'000}, {int64_t{1} << 30, -7}};
  garbage.psi_some_ppm = -1;

  auto core = NewCore(clock);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(store.Submit("a", honest, guest_bytes, clock.Now()).ok());
    ASSERT_TRUE(store.Submit("b", honest, guest_bytes, clock.Now()).ok());
    // The liar alternates lies and garbage, and floods.
    const absl::Status s =
        store.Submit("liar", i % 2 ? garbage : lie, guest_bytes, clock.Now());
    if (i % 2) {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(s.message()), HasSubstr("VM 'liar'"));
    }
    for (int flood = 0; flood < 100; ++flood) {
      EXPECT_EQ(store.Submit("liar", lie, guest_bytes, clock.Now()).code(),
                absl::StatusCode::kResourceExhausted);
    }
    for (const char* id : {"a", "b", "liar"}) {
      const Telemetry* t = store.Latest(id);
      host.vm(id).telemetry = t ? std::optional<Telemetry>(*t) : std::nullopt;
    }
    const HostSnapshot snap = host.Snapshot(clock.Now());
    absl::StatusOr<TickResult> r = core->Tick(snap);
    ASSERT_TRUE(r.ok()) << r.status();
    host.Apply(r->actuation.commands);
    ASSERT_LE(host.SumTargets(), host.budget_bytes());
    // Bounded effect: the liar never exceeds its own max, the others never
    // drop below their own min.
    EXPECT_LE(host.vm("liar").target_bytes, 4 * kGiB);
    EXPECT_GE(host.vm("a").target_bytes, 2 * kGiB);
    EXPECT_GE(host.vm("b").target_bytes, 2 * kGiB);
    host.Step();
    clock.Advance(kTick);
  }
  // Honest VMs split what the liar's max leaves: 12 − 4 = 8 GiB.
  EXPECT_EQ(host.vm("a").target_bytes + host.vm("b").target_bytes, 8 * kGiB);
  EXPECT_EQ(store.Counters("liar")->rejected, 15u);
  EXPECT_EQ(store.Counters("liar")->rate_limited, 3000u);
}

TEST(AgentScenario, GuardKeepsAStalledVmFromBeingShrunk) {
  FakeClock clock;
  FakeHost host(16 * kGiB, 12 * kGiB, 1 * kGiB);
  AddHotAndIdle(host, clock.Now(), 4 * kGiB, 8 * kGiB);
  // b's curve says idle, but its PSI is above its 1 % target.
  host.vm("b").telemetry->psi_some_ppm = 50'000;
  auto core = NewCore(clock);
  for (int i = 0; i < 20; ++i) {
    TickResult r = RunTick(*core, host, clock);
    EXPECT_EQ(r.plan.vms[1].verdict, GuardVerdict::kStalled);
    EXPECT_EQ(host.vm("b").target_bytes, 8 * kGiB) << "tick " << i;
  }
  // Calm again: b gives FMEM back.
  host.vm("b").telemetry->psi_some_ppm = 0;
  RunTick(*core, host, clock);
  EXPECT_LT(host.vm("b").target_bytes, 8 * kGiB);
}

TEST(AgentScenario, PressureSignalsFollowHostFreeFmemAndThresholdsAdapt) {
  FakeClock clock;
  FakeHost host(16 * kGiB, 12 * kGiB, 1 * kGiB);
  AddHotAndIdle(host, clock.Now(), 4 * kGiB, 8 * kGiB);
  auto core = NewCore(clock, [] {
    AgentCoreConfig c = CoreConfig();
    c.policy = "static";  // keep the VMs still; only the host changes
    return c;
  }());
  host.set_other_usage(4 * kGiB - 128 * kMiB);  // 128 MiB free: high
  TickResult r;
  for (int i = 0; i < 12 * 5; ++i) r = RunTick(*core, host, clock);  // 5 min
  EXPECT_EQ(r.host_pressure, PressureLevel::kHigh);
  EXPECT_EQ(r.vm_pressure, (std::vector<PressureLevel>{PressureLevel::kHigh,
                                                       PressureLevel::kHigh}));
  EXPECT_GT(r.low_free_bytes, 1 * kGiB);  // warned earlier each period
  const uint64_t raised = r.low_free_bytes;

  host.set_other_usage(0);  // 4 GiB free: calm
  for (int i = 0; i < 12 * 10; ++i) r = RunTick(*core, host, clock);
  EXPECT_EQ(r.host_pressure, PressureLevel::kNone);
  EXPECT_LT(r.low_free_bytes, raised);
  EXPECT_EQ(r.low_free_bytes, 512 * kMiB);
}

TEST(AgentCore, CreateRejectsUnknownPolicyAndBadKnobs) {
  FakeClock clock;
  AgentCoreConfig c = CoreConfig();
  c.policy = "nope";
  EXPECT_EQ(AgentCore::Create(c, clock).status().code(),
            absl::StatusCode::kNotFound);
  c = CoreConfig();
  c.pressure.high_free_bytes = 8 * kGiB;
  EXPECT_EQ(AgentCore::Create(c, clock).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = CoreConfig();
  c.actuator.shrink_timeout = absl::ZeroDuration();
  EXPECT_EQ(AgentCore::Create(c, clock).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = CoreConfig();
  c.policy_args.granule_bytes = 0;
  EXPECT_EQ(AgentCore::Create(c, clock).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AgentCore, BrokenPolicyIsCaughtBeforeActuation) {
  class Greedy final : public FmemPolicy {
   public:
    std::string_view name() const override { return "greedy"; }
    FmemPlan Decide(const HostSnapshot& snap) const override {
      FmemPlan p;
      p.policy = "greedy";
      for (const VmView& vm : snap.vms()) {
        p.vms.push_back({vm.config.max_fmem_bytes, GuardVerdict::kFree});
      }
      return p;
    }
  };
  PolicyRegistry registry;
  ASSERT_TRUE(registry
                  .Register("greedy",
                            [](const PolicyArgs&)
                                -> absl::StatusOr<std::unique_ptr<FmemPolicy>> {
                              return std::make_unique<Greedy>();
                            })
                  .ok());
  FakeClock clock;
  AgentCoreConfig c = CoreConfig();
  c.policy = "greedy";
  auto core = AgentCore::Create(c, clock, registry);
  ASSERT_TRUE(core.ok()) << core.status();
  FakeHost host(16 * kGiB, 12 * kGiB);
  AddHotAndIdle(host, clock.Now(), 4 * kGiB, 8 * kGiB);
  absl::StatusOr<TickResult> r = (*core)->Tick(host.Snapshot(clock.Now()));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace tiervm::agent

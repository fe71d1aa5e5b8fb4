// One FMEM decision for a host with 1,000 VMs (goal: <= 1 ms).
//
// BM_UtilityDecide: the default policy alone (guard ranges, concave
// envelopes, greedy fill) on a snapshot of 1,000 VMs with 8-point hotness
// curves.  BM_AgentTick: a whole AgentCore::Tick (policy, plan validation,
// actuation planning, pressure signals).  BM_ProportionalDecide for
// comparison.  Snapshot construction is outside the timed loop.
#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "core/agent_core.h"
#include "core/host_snapshot.h"
#include "core/policy_registry.h"

namespace tiervm::agent {
namespace {

HostSnapshot MakeHost(int vms, absl::Time now) {
  std::mt19937_64 rng(1);
  HostSnapshot::Builder b;
  uint64_t sum_target = 0;
  for (int i = 0; i < vms; ++i) {
    VmConfig c;
    c.min_fmem_bytes = 512 * kMiB;
    c.max_fmem_bytes = 16 * kGiB;
    c.weight = 1 + rng() % 4;
    Telemetry t;
    t.received = now;
    t.psi_some_ppm = rng() % 20'000;
    t.smem_access_share_ppm = rng() % 300'000;
    // A concave-ish curve with some noise: 8 points over 16 GiB.
    uint32_t share = 0;
    for (int p = 1; p <= 8; ++p) {
      share += static_cast<uint32_t>((kPpmOne - share) *
                                     (0.2 + (rng() % 40) / 100.0));
      t.hotness.push_back({static_cast<uint64_t>(p) * 2 * kGiB, share});
    }
    const uint64_t target = (1 + rng() % 8) * kGiB;
    sum_target += target;
    b.AddVm(absl::StrCat("vm-", i), c, {target, target, 8 * kGiB}, t);
  }
  // A budget a bit below what the VMs hold: the decision has work to do.
  b.SetHost(sum_target * 9 / 10, 64 * kGiB, now);
  return *std::move(b).Build();
}

void BM_Decide(benchmark::State& state, const char* policy_name) {
  const absl::Time now = absl::FromUnixSeconds(1'000'000);
  const HostSnapshot snap = MakeHost(static_cast<int>(state.range(0)), now);
  auto policy = PolicyRegistry::Global().Create(policy_name, PolicyArgs{});
  if (!policy.ok()) {
    state.SkipWithError(std::string(policy.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    FmemPlan plan = (*policy)->Decide(snap);
    benchmark::DoNotOptimize(plan);
  }
  state.counters["vms"] = static_cast<double>(snap.size());
}

void BM_UtilityDecide(benchmark::State& state) { BM_Decide(state, "utility"); }
void BM_ProportionalDecide(benchmark::State& state) {
  BM_Decide(state, "proportional");
}

void BM_AgentTick(benchmark::State& state) {
  FakeClock clock;
  const HostSnapshot snap =
      MakeHost(static_cast<int>(state.range(0)), clock.Now());
  auto core = AgentCore::Create(AgentCoreConfig{}, clock);
  if (!core.ok()) {
    state.SkipWithError(std::string(core.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    // A fresh actuator each time would measure adoption; the snapshot is
    // fixed, so after the first tick every VM with a move is held.  Both
    // paths run the full planner over all VMs.
    auto r = (*core)->Tick(snap);
    benchmark::DoNotOptimize(r);
  }
}

BENCHMARK(BM_UtilityDecide)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ProportionalDecide)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AgentTick)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace tiervm::agent

BENCHMARK_MAIN();

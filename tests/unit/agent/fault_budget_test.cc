// Fault injection for the agent core's budget (issue 13, defect 3): seeded
// runs of AgentCore against FakeHost while guests take FMEM back on their
// own (deflate-on-OOM), balloons wedge (moves time out), guests send
// garbage telemetry, guests reboot, QEMUs and the agent restart, the budget
// is cut and raised and other users take host FMEM.  After every tick, with
// the tick's commands applied, it checks:
//   * Σ targets <= budget (a host pushed over it by a fault is brought back
//     within it in the same tick; no command raises a target past it);
//   * every target the agent sets lies in [min, max] of its VM, or moves a
//     VM found outside that range toward it (a partial grant below min);
//   * a grant (a target raised above what the VM holds) is only made while
//     the grants not yet taken fit in the host's free FMEM;
//   * no timeout raises a target;
//   * host pressure is HIGH whenever Σ committed exceeds the budget;
// and, once faults stop, that the host settles within the budget.
//
// 100 seeds × 10,000 ticks by default (the figures);
// TIERVM_FAULT_SEEDS / TIERVM_FAULT_TICKS scale it (the sanitizer build
// runs fewer).  Writes results/fault_agent_budget.json (README of
// host-agent: "Fault injection").
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent_test_util.h"
#include "core/agent_core.h"
#include "core/telemetry_sanitizer.h"
#include "gtest/gtest.h"

#ifndef TIERVM_RESULTS_DIR
#define TIERVM_RESULTS_DIR "results"
#endif

namespace tiervm::agent {
namespace {

using testing::Config;
using testing::FakeHost;

constexpr absl::Duration kTick = absl::Seconds(1);
constexpr uint64_t kNodeBytes = 64 * kGiB;
constexpr uint64_t kMaxBudgetBytes = 48 * kGiB;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  const int n = std::atoi(v);
  return n > 0 ? n : fallback;
}

std::string ResultsDir() {
  const char* v = std::getenv("TIERVM_RESULTS_DIR");
  return v != nullptr && *v != '\0' ? v : TIERVM_RESULTS_DIR;
}

enum Fault {
  kRisingActual,    // the guest deflates on its own (deflate-on-OOM)
  kFallingActual,   // the guest inflates on its own
  kWedgedBalloon,   // the balloon stops moving for a while: moves time out
  kGarbageTelemetry,
  kGuestReboot,     // actual jumps to the whole node, target kept
  kQemuRestart,     // the VM comes back with target = actual = node size
  kAgentRestart,    // a fresh AgentCore adopts what it reads back
  kBudgetCut,
  kBudgetRaise,
  kHostUsage,       // other users take or give back host FMEM
  kFaultKinds,
};

const char* FaultName(int f) {
  static const char* const kNames[kFaultKinds] = {
      "rising_actual", "falling_actual", "wedged_balloon", "garbage_telemetry",
      "guest_reboot",  "qemu_restart",   "agent_restart",  "budget_cut",
      "budget_raise",  "host_usage"};
  return kNames[f];
}

struct Totals {
  uint64_t ticks = 0;
  uint64_t faults = 0;
  uint64_t by_kind[kFaultKinds] = {};
  uint64_t violations = 0;
  uint64_t over_budget_ticks = 0;  // Σ committed > budget (faults' doing)
  uint64_t commands = 0;
  uint64_t timeouts = 0;
  uint64_t unsettled_seeds = 0;
  std::vector<std::string> first_violations;  // a few, for the log
};

class FaultRun {
 public:
  FaultRun(uint64_t seed, Totals* totals)
      : seed_(seed), rng_(seed), totals_(totals),
        host_(kNodeBytes, kMaxBudgetBytes, 256 * kMiB) {
    host_.set_strict(false);
    const char* policies[] = {"utility", "proportional", "static"};
    config_.policy = policies[seed % 3];
    config_.actuator.shrink_timeout = absl::Seconds(30);
    config_.actuator.grow_timeout = absl::Seconds(30);
    config_.actuator.stuck_retry_after = absl::Seconds(120);
    config_.pressure.high_free_bytes = 256 * kMiB;
    config_.pressure.min_low_free_bytes = 512 * kMiB;
    config_.pressure.initial_low_free_bytes = 1 * kGiB;
    config_.pressure.max_low_free_bytes = 4 * kGiB;
    const int vms = static_cast<int>(Uniform(2, 8));
    for (int i = 0; i < vms; ++i) {
      const std::string id = absl::StrCat("vm", i);
      const uint64_t max = Gib(Uniform(1, 16));
      const uint64_t min = Round(Uniform(0, max / 4));
      node_bytes_[id] = max + Round(Uniform(0, 2 * kGiB));
      // Some start above their max or over the budget in total: a host the
      // agent finds over-committed.
      host_.AddVm(id, Config(min, max, static_cast<uint32_t>(Uniform(1, 1000))),
                  Round(Uniform(0, node_bytes_[id])));
      sum_min_ += min;
    }
    host_.set_budget(Round(Uniform(sum_min_, kMaxBudgetBytes)));
    NewCore();
  }

  void Run(int ticks) {
    for (int t = 0; t < ticks; ++t) {
      InjectFaults();
      Report();
      Tick(/*faults_on=*/true);
    }
    // Faults stop: balloons work, guests stay put.  The host must come
    // back within the budget (stuck VMs are retried after 120 s).
    for (auto& [id, vm] : host_.vms()) vm.frozen = false;
    frozen_until_.clear();
    bool settled = false;
    for (int t = 0; t < 2000 && !settled; ++t) {
      Report();
      settled = !Tick(/*faults_on=*/false) && t > 0;
    }
    if (!settled) {
      ++totals_->unsettled_seeds;
      Violation("still over budget 2000 ticks after faults stopped");
    }
  }

 private:
  uint64_t Uniform(uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  static uint64_t Gib(uint64_t n) { return n * kGiB; }
  static uint64_t Round(uint64_t b) { return b / (2 * kMiB) * (2 * kMiB); }

  void NewCore() {
    absl::StatusOr<std::unique_ptr<AgentCore>> core =
        AgentCore::Create(config_, clock_);
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = *std::move(core);
  }

  void Count(Fault f) {
    ++totals_->faults;
    ++totals_->by_kind[f];
  }

  void Violation(const std::string& what) {
    ++totals_->violations;
    if (totals_->first_violations.size() < 20) {
      totals_->first_violations.push_back(
          absl::StrCat("seed ", seed_, " tick ", tick_, " (", config_.policy,
                       "): ", what));
    }
  }

  std::string PickVm() {
    auto it = host_.vms().begin();
    std::advance(it, Uniform(0, host_.vms().size() - 1));
    return it->first;
  }

  void InjectFaults() {
    for (auto it = frozen_until_.begin(); it != frozen_until_.end();) {
      if (it->second <= tick_) {
        host_.vm(it->first).frozen = false;
        it = frozen_until_.erase(it);
      } else {
        ++it;
      }
    }
    if (Chance(0.004)) {
      const std::string id = PickVm();
      FakeHost::Vm& vm = host_.vm(id);
      vm.actual_bytes = std::min(node_bytes_[id],
                                 vm.actual_bytes + Round(Uniform(256 * kMiB, 4 * kGiB)));
      Count(kRisingActual);
    }
    if (Chance(0.001)) {
      FakeHost::Vm& vm = host_.vm(PickVm());
      vm.actual_bytes -= std::min(vm.actual_bytes, Round(Uniform(0, 2 * kGiB)));
      Count(kFallingActual);
    }
    if (Chance(0.004)) {
      const std::string id = PickVm();
      host_.vm(id).frozen = true;
      frozen_until_[id] = tick_ + static_cast<int>(Uniform(10, 300));
      Count(kWedgedBalloon);
    }
    if (Chance(0.001)) {
      const std::string id = PickVm();
      host_.vm(id).actual_bytes = node_bytes_[id];
      store_.Forget(id);
      Count(kGuestReboot);
    }
    if (Chance(0.0005)) {
      const std::string id = PickVm();
      const FakeHost::Vm old = host_.vm(id);
      host_.RemoveVm(id);
      Tick(/*faults_on=*/true);  // one tick without it: the QEMU is gone
      // A fresh QEMU: balloon empty, so FMEM target = actual = the node.
      FakeHost::Vm& vm = host_.AddVm(id, old.config, node_bytes_[id]);
      vm.frozen = false;
      frozen_until_.erase(id);
      store_.Forget(id);
      Count(kQemuRestart);
    }
    if (Chance(0.0005)) {
      NewCore();
      Count(kAgentRestart);
    }
    if (Chance(0.002)) {
      if (Chance(0.7)) {
        host_.set_budget(Round(Uniform(sum_min_, host_.budget_bytes())));
        Count(kBudgetCut);
      } else {
        host_.set_budget(
            Round(Uniform(host_.budget_bytes(), kMaxBudgetBytes)));
        Count(kBudgetRaise);
      }
    }
    if (Chance(0.003)) {
      host_.set_other_usage(Round(Uniform(0, 32 * kGiB)));
      Count(kHostUsage);
    }
  }

  // Guests report (most ticks), some with garbage.
  void Report() {
    const absl::Time now = clock_.Now();
    for (auto& [id, vm] : host_.vms()) {
      if (!Chance(0.5)) continue;
      const uint64_t guest_bytes = node_bytes_[id] + 4 * kGiB;
      RawTelemetry raw;
      if (Chance(0.02)) {
        Garbage(&raw);
        Count(kGarbageTelemetry);
      } else {
        const int points = static_cast<int>(Uniform(1, 6));
        int64_t bytes = 0, share = 0;
        for (int p = 0; p < points; ++p) {
          bytes += static_cast<int64_t>(Round(Uniform(64 * kMiB, 4 * kGiB)));
          share = std::min<int64_t>(kPpmOne, share + static_cast<int64_t>(Uniform(0, 500'000)));
          raw.hotness.push_back({bytes, share});
        }
        raw.psi_some_ppm = static_cast<int64_t>(Chance(0.2) ? Uniform(0, 100'000) : 0);
        raw.psi_full_ppm = raw.psi_some_ppm / 2;
        raw.smem_access_share_ppm = static_cast<int64_t>(Uniform(0, 400'000));
      }
      (void)store_.Submit(id, raw, guest_bytes, now);
    }
  }

  void Garbage(RawTelemetry* raw) {
    switch (Uniform(0, 5)) {
      case 0:  // 2^64 - 1 read as signed
        raw->hotness = {{-1, -1}};
        break;
      case 1:  // non-monotone
        raw->hotness = {{static_cast<int64_t>(4 * kGiB), 500'000},
                        {static_cast<int64_t>(kGiB), 900'000}};
        break;
      case 2:  // shares above 100 %
        raw->hotness = {{static_cast<int64_t>(kGiB), 5'000'000}};
        break;
      case 3:  // too many points
        for (int i = 1; i <= 200; ++i) {
          raw->hotness.push_back({static_cast<int64_t>(i) * static_cast<int64_t>(kMiB), i});
        }
        break;
      case 4:  // PSI full > some, absurd SMEM share
        raw->hotness = {{static_cast<int64_t>(kGiB), 100}};
        raw->psi_some_ppm = 10;
        raw->psi_full_ppm = 999'999;
        raw->smem_access_share_ppm = -7;
        break;
      default:  // random words
        for (int i = 0; i < 4; ++i) {
          raw->hotness.push_back({static_cast<int64_t>(rng_()), static_cast<int64_t>(rng_())});
        }
        raw->psi_some_ppm = static_cast<int64_t>(rng_());
        break;
    }
  }

  // One agent period with the invariant checks.  Returns whether Σ
  // committed exceeded the budget after the tick's commands.
  bool Tick(bool faults_on) {
    const absl::Time now = clock_.Now();
    for (auto& [id, vm] : host_.vms()) {
      const Telemetry* t = store_.Latest(id);
      vm.telemetry = t ? std::optional<Telemetry>(*t) : std::nullopt;
    }
    const HostSnapshot snap = host_.Snapshot(now);
    absl::StatusOr<TickResult> r = core_->Tick(snap);
    ++tick_;
    if (faults_on) ++totals_->ticks;
    if (!r.ok()) {
      Violation(absl::StrCat("tick failed: ", r.status().ToString()));
      host_.Step();
      clock_.Advance(kTick);
      return true;
    }
    CheckCommands(snap, *r);
    host_.Apply(r->actuation.commands);
    totals_->commands += r->actuation.commands.size();
    if (host_.SumTargets() > host_.budget_bytes()) {
      Violation(absl::StrCat("sum of targets ", host_.SumTargets(),
                             " > budget ", host_.budget_bytes()));
    }
    if (r->over_budget) {
      if (faults_on) ++totals_->over_budget_ticks;
      if (r->host_pressure != PressureLevel::kHigh) {
        Violation("over budget but host pressure not HIGH");
      }
    }
    host_.Step();
    clock_.Advance(kTick);
    return r->over_budget;
  }

  void CheckCommands(const HostSnapshot& snap, const TickResult& r) {
    std::map<VmId, bool> timed_out;
    for (const MoveEvent& e : r.actuation.events) {
      if (e.kind == MoveEventKind::kShrinkTimedOut ||
          e.kind == MoveEventKind::kGrowTimedOut) {
        timed_out[e.vm] = true;
        ++totals_->timeouts;
      }
      if (e.kind == MoveEventKind::kRefusedOverBudget) {
        Violation(absl::StrCat(e.vm, ": planner asked for a raise the last "
                               "check refused"));
      }
    }
    std::vector<uint64_t> target(snap.size());
    uint64_t sum = 0, outstanding = 0;
    for (size_t i = 0; i < snap.size(); ++i) {
      const VmTierState& s = snap.vm(i).state;
      target[i] = s.fmem_target_bytes;
      sum += target[i];
      if (s.fmem_target_bytes > s.fmem_actual_bytes)
        outstanding += s.fmem_target_bytes - s.fmem_actual_bytes;
    }
    for (const TargetCommand& c : r.actuation.commands) {
      const std::optional<size_t> idx = snap.IndexOf(c.vm);
      if (!idx) {
        Violation(absl::StrCat(c.vm, ": command for an unknown VM"));
        continue;
      }
      const VmView& vm = snap.vm(*idx);
      const uint64_t from = target[*idx];
      // In [min, max] — or, for a VM found outside it (a QEMU restarted
      // with its whole node, a host that started that way), a step toward
      // it: a partial grant below min, a shrink still above max.
      const bool below = c.target_bytes < vm.config.min_fmem_bytes;
      const bool above = c.target_bytes > vm.config.max_fmem_bytes;
      if ((below && c.target_bytes <= from) || (above && c.target_bytes >= from)) {
        Violation(absl::StrCat(c.vm, ": target ", from, " -> ", c.target_bytes,
                               " leaves [", vm.config.min_fmem_bytes, ", ",
                               vm.config.max_fmem_bytes, "]"));
      }
      const uint64_t actual = vm.state.fmem_actual_bytes;
      const uint64_t grant_before = from > actual ? from - actual : 0;
      const uint64_t grant_after =
          c.target_bytes > actual ? c.target_bytes - actual : 0;
      outstanding = outstanding - grant_before + grant_after;
      sum = sum - from + c.target_bytes;
      target[*idx] = c.target_bytes;
      if (c.target_bytes > from) {
        if (timed_out.contains(c.vm)) {
          Violation(absl::StrCat(c.vm, ": target raised on a timeout"));
        }
        if (sum > snap.fmem_budget_bytes()) {
          Violation(absl::StrCat(c.vm, ": a raise makes the sum of targets ",
                                 sum, " > budget ", snap.fmem_budget_bytes()));
        }
        if (grant_after > grant_before &&
            outstanding > snap.host_free_fmem_bytes()) {
          Violation(absl::StrCat(c.vm, ": grants not yet taken ", outstanding,
                                 " > host free ", snap.host_free_fmem_bytes()));
        }
      }
    }
  }

  const uint64_t seed_;
  std::mt19937_64 rng_;
  Totals* totals_;
  FakeClock clock_;
  FakeHost host_;
  AgentCoreConfig config_;
  std::unique_ptr<AgentCore> core_;
  TelemetryStore store_;
  std::map<std::string, uint64_t> node_bytes_;
  std::map<std::string, int> frozen_until_;
  uint64_t sum_min_ = 0;
  int tick_ = 0;
};

void WriteJson(const std::string& path, const Totals& t, int seeds, int ticks,
               bool complete, double wall_s) {
  std::ofstream out(path + ".tmp");
  out << "{\n  \"name\": \"fault_agent_budget\",\n"
      << "  \"complete\": " << (complete ? "true" : "false") << ",\n"
      << "  \"tried\": " << t.ticks << ",\n"
      << "  \"faults_injected\": " << t.faults << ",\n"
      << "  \"invariant_violations\": " << t.violations << ",\n"
      << "  \"corrupted_pages\": 0,\n  \"leaked_pages\": 0,\n"
      // Written as 1 before the run and replaced at its end: a run that
      // dies half way leaves a file that says so.
      << "  \"crashes\": " << (complete ? 0 : 1) << ",\n"
      << "  \"seeds\": " << seeds << ",\n  \"ticks_per_seed\": " << ticks << ",\n"
      << "  \"faults_by_kind\": {";
  for (int f = 0; f < kFaultKinds; ++f) {
    out << (f ? ", " : "") << "\"" << FaultName(f) << "\": " << t.by_kind[f];
  }
  out << "},\n  \"over_budget_ticks\": " << t.over_budget_ticks << ",\n"
      << "  \"target_commands\": " << t.commands << ",\n"
      << "  \"move_timeouts\": " << t.timeouts << ",\n"
      << "  \"unsettled_seeds\": " << t.unsettled_seeds << ",\n"
      << "  \"wall_seconds\": " << wall_s << ",\n"
      << "  \"first_violations\": [";
  for (size_t i = 0; i < t.first_violations.size(); ++i) {
    std::string s = t.first_violations[i];
    std::replace(s.begin(), s.end(), '"', '\'');
    out << (i ? ", " : "") << "\"" << s << "\"";
  }
  out << "]\n}\n";
  out.close();
  std::rename((path + ".tmp").c_str(), path.c_str());
}

TEST(FaultAgentBudget, SeededFaultRunsNeverBreachTheBudget) {
  const int seeds = EnvInt("TIERVM_FAULT_SEEDS", 100);
  const int ticks = EnvInt("TIERVM_FAULT_TICKS", 10'000);
  const std::string path = ResultsDir() + "/fault_agent_budget.json";
  Totals totals;
  WriteJson(path, totals, seeds, ticks, /*complete=*/false, 0);
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 1; s <= seeds; ++s) {
    FaultRun run(static_cast<uint64_t>(s), &totals);
    run.Run(ticks);
    if (::testing::Test::HasFatalFailure()) break;
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  WriteJson(path, totals, seeds, ticks, /*complete=*/true, wall_s);
  for (const std::string& v : totals.first_violations) ADD_FAILURE() << v;
  EXPECT_EQ(totals.violations, 0u);
  EXPECT_GT(totals.faults, static_cast<uint64_t>(seeds) * ticks / 100);
  EXPECT_GT(totals.timeouts, 0u);
  EXPECT_GT(totals.over_budget_ticks, 0u);
  std::printf("fault_agent_budget: %llu ticks, %llu faults, %llu violations, "
              "%llu over-budget ticks, %.1f s -> %s\n",
              static_cast<unsigned long long>(totals.ticks),
              static_cast<unsigned long long>(totals.faults),
              static_cast<unsigned long long>(totals.violations),
              static_cast<unsigned long long>(totals.over_budget_ticks), wall_s,
              path.c_str());
}

}  // namespace
}  // namespace tiervm::agent

// The daemon's loop object (AgentLoop, everything of tiervm-agent but
// main) against simulated hosts whose VMs are in-process fake QMP servers
// speaking the real protocol, discovered through a socket directory by the
// real QmpDirVmSource.
#include "daemon/agent_loop.h"

#include <linux/virtio_hballoon.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "adapters/vm_source_qmp_dir.h"
#include "core/clock.h"
#include "fake_tiered_host.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"

namespace tiervm::agent {
namespace {

using ::testing::HasSubstr;
using testing::FakeTieredHost;

constexpr uint64_t kNode = 4 * kGiB;  // host FMEM node
constexpr uint64_t kVmFmem = 1 * kGiB;
constexpr uint64_t kBudget = 1536 * kMiB;

AgentConfig Config(const std::string& dir) {
  AgentConfig c;
  c.budget_bytes = kBudget;
  c.qmp_socket_dir = dir;
  c.qmp_timeout_ms = 2000;
  c.defaults.min_fmem_bytes = 256 * kMiB;
  c.telemetry.min_interval = absl::Seconds(1);
  c.core.actuator.shrink_timeout = absl::Seconds(10);
  c.core.actuator.grow_timeout = absl::Seconds(10);
  // The simulated host has plenty free: keep the M3 levels quiet.
  c.core.pressure.high_free_bytes = 64 * kMiB;
  c.core.pressure.min_low_free_bytes = 128 * kMiB;
  c.core.pressure.initial_low_free_bytes = 128 * kMiB;
  return c;
}

class AgentLoopTest : public ::testing::Test {
 protected:
  AgentLoopTest() : host_(kNode, kBudget, 64 * kMiB) {
    spdlog::set_level(spdlog::level::warn);
  }

  // `numa_maps`: the residency reader (null: the loop's own).
  void Start(AgentConfig c, NumaMapsReader* numa_maps = nullptr) {
    QmpDirOptions o;
    o.dir = host_.dir();
    source_ = std::make_unique<QmpDirVmSource>(o);
    AgentLoop::Deps d;
    d.source = source_.get();
    d.host = &host_;
    d.clock = &clock_;
    if (numa_maps != nullptr) d.numa_maps = numa_maps;
    d.on_target = [this](const TargetLogEntry& e) {
      log_.push_back(e);
      EXPECT_LE(e.sum_fmem_target_bytes, e.budget_bytes) << e.vm;
    };
    absl::StatusOr<std::unique_ptr<AgentLoop>> l = AgentLoop::Create(c, d);
    ASSERT_TRUE(l.ok()) << l.status();
    loop_ = *std::move(l);
  }
  void Stop() {
    loop_.reset();
    source_.reset();
  }

  // One period: A reports a big hot set, B a small one; then a tick.
  void Period(bool report = true) {
    clock_.Advance(absl::Seconds(1));
    const int64_t ms = absl::ToUnixMillis(clock_.Now());
    if (report) {
      host_.Report("a", ms, FakeTieredHost::Curve(900 * kMiB, 950'000, 2 * kGiB));
      host_.Report("b", ms, FakeTieredHost::Curve(32 * kMiB, 990'000, 2 * kGiB));
    }
    (void)loop_->Tick();
    EXPECT_LE(host_.SumTargets(), kBudget);
  }

  const VmStatus* Vm(const std::string& name) {
    for (const VmStatus& v : loop_->status().vms)
      if (v.vm == name) return &v;
    return nullptr;
  }

  FakeClock clock_;
  FakeTieredHost host_;
  std::unique_ptr<QmpDirVmSource> source_;
  std::unique_ptr<AgentLoop> loop_;
  std::vector<TargetLogEntry> log_;
};

TEST_F(AgentLoopTest, FmemMovesFromIdleToHotVm) {
  host_.AddVm("a", kVmFmem, 768 * kMiB);
  host_.AddVm("b", kVmFmem, 768 * kMiB);
  Start(Config(host_.dir()));
  int periods = 0;
  for (; periods < 40; ++periods) {
    Period();
    if (host_.Snapshot("a").fmem_actual() >= 1000 * kMiB) break;
  }
  EXPECT_LT(periods, 40) << "FMEM did not move to the hot VM";
  const auto a = host_.Snapshot("a"), b = host_.Snapshot("b");
  EXPECT_GE(a.fmem_actual(), 1000 * kMiB);
  EXPECT_LE(b.fmem_target(), 536 * kMiB);
  EXPECT_GE(b.fmem_target(), 256 * kMiB);  // B's minimum holds
  EXPECT_TRUE(host_.violations().empty()) << host_.violations()[0];
  // Every set is in the log, and B shrank before A grew.
  ASSERT_FALSE(log_.empty());
  EXPECT_EQ(log_.front().vm, "b");
  ASSERT_NE(Vm("a"), nullptr);
  EXPECT_GT(Vm("a")->hot_bytes, 700 * kMiB);
  EXPECT_EQ(Vm("a")->telemetry_rejected, 0u);
  EXPECT_GT(Vm("a")->telemetry_accepted, 0u);
  EXPECT_EQ(loop_->status().last_error, "");
  std::printf("FMEM moved to the hot VM in %d periods, %zu target sets\n",
              periods + 1, log_.size());
}

TEST_F(AgentLoopTest, DonorThatNeverShrinksTimesOutAndIsFlagged) {
  host_.AddVm("a", kVmFmem, 768 * kMiB);
  host_.AddVm("b", kVmFmem, 768 * kMiB);
  host_.Freeze("b", true);
  Start(Config(host_.dir()));
  for (int i = 0; i < 30; ++i) Period();
  const auto a = host_.Snapshot("a"), b = host_.Snapshot("b");
  // B's FMEM never came free, so A got none of it.
  EXPECT_EQ(b.fmem_actual(), 768 * kMiB);
  EXPECT_LE(a.fmem_target(), kBudget - b.fmem_actual());
  EXPECT_LE(a.fmem_actual(), kBudget - b.fmem_actual());
  EXPECT_TRUE(host_.violations().empty()) << host_.violations()[0];
  ASSERT_NE(Vm("b"), nullptr);
  EXPECT_EQ(Vm("b")->state, "stuck");
  EXPECT_GE(Vm("b")->timeouts, 1u);
  // A timeout never raises a target: B keeps the lower one it was asked
  // for (and stays charged for the 768 MiB it holds).
  EXPECT_LT(b.fmem_target(), 768 * kMiB);
  EXPECT_THAT(loop_->MetricsText(), HasSubstr("tiervm_vm_stuck{vm=\"b\"} 1\n"));
  // `tiervm set` clears the flag.
  EXPECT_THAT(loop_->HandleControl(R"({"cmd":"set","vm":"b","weight":2})"),
              HasSubstr("\"ok\":true"));
  Period();
  EXPECT_NE(Vm("b")->state, "stuck");
}

TEST_F(AgentLoopTest, RaiseFundedByAFailedLoweringIsNotSent) {
  // A was granted 1 GiB but holds 512 MiB (a grow in flight, balloon
  // wedged); B holds 768 MiB: Σ targets 1792 MiB > the 1536 MiB budget, so
  // the core lowers A to its new max (512 MiB) and, with A's grant gone,
  // raises hot B.  A's set-target fails: B's raise would put Σ targets at
  // 2 GiB, and the loop must not send it.
  host_.AddVm("a", kVmFmem, 512 * kMiB);
  host_.AddVm("b", kVmFmem, 768 * kMiB);
  host_.SetFmemTarget("a", 1 * kGiB);
  host_.Freeze("a", true);
  host_.server("a").Handle("__org.tiervm_hballoon-set-target", [](const nlohmann::json&) {
    tiervm::testing::FakeReply r;
    r.error_class = "GenericError";
    r.error_desc = "injected failure";
    return r;
  });
  AgentConfig c = Config(host_.dir());
  c.vms["a"].max_fmem_bytes = 512 * kMiB;
  QmpDirOptions o;
  o.dir = host_.dir();
  source_ = std::make_unique<QmpDirVmSource>(o);
  AgentLoop::Deps d;
  d.source = source_.get();
  d.host = &host_;
  d.clock = &clock_;
  std::vector<TargetLogEntry> sets;
  d.on_target = [&](const TargetLogEntry& e) { sets.push_back(e); };
  absl::StatusOr<std::unique_ptr<AgentLoop>> l = AgentLoop::Create(c, d);
  ASSERT_TRUE(l.ok()) << l.status();
  loop_ = *std::move(l);
  bool refused = false;
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(absl::Seconds(1));
    const int64_t ms = absl::ToUnixMillis(clock_.Now());
    host_.Report("a", ms, FakeTieredHost::Curve(32 * kMiB, 990'000, 2 * kGiB));
    host_.Report("b", ms, FakeTieredHost::Curve(900 * kMiB, 950'000, 2 * kGiB));
    (void)loop_->Tick();
    refused |= Vm("b") != nullptr && Vm("b")->target_set_errors > 0;
    // Nothing set ever raised B while A still held its 1 GiB target.
    EXPECT_LE(host_.Snapshot("b").fmem_target(), 768 * kMiB) << "period " << i;
  }
  EXPECT_TRUE(refused);
  ASSERT_FALSE(sets.empty());
  for (const TargetLogEntry& e : sets) {
    if (e.vm == "a") {
      EXPECT_FALSE(e.status.ok());
    }
    if (e.vm == "b") {
      EXPECT_LE(e.fmem_target_bytes, e.previous_fmem_target_bytes);
    }
  }
}

TEST_F(AgentLoopTest, RestartMidMoveAdoptsAndNeverOvercommits) {
  host_.AddVm("a", kVmFmem, 768 * kMiB);
  host_.AddVm("b", kVmFmem, 768 * kMiB);
  Start(Config(host_.dir()));
  // Run until B is mid-shrink: target below actual.
  bool mid = false;
  for (int i = 0; i < 20 && !mid; ++i) {
    Period();
    const auto b = host_.Snapshot("b");
    mid = b.fmem_target() < b.fmem_actual();
  }
  ASSERT_TRUE(mid);
  const size_t sets_before = log_.size();
  Stop();  // the agent dies mid-move
  Start(Config(host_.dir()));
  // First tick of the new agent: the shrink is adopted, not re-issued.
  Period();
  ASSERT_NE(Vm("b"), nullptr);
  EXPECT_EQ(Vm("b")->state, "shrinking");
  for (size_t i = sets_before; i < log_.size(); ++i) EXPECT_NE(log_[i].vm, "b");
  for (int i = 0; i < 40; ++i) Period();
  EXPECT_GE(host_.Snapshot("a").fmem_actual(), 1000 * kMiB);
  EXPECT_TRUE(host_.violations().empty()) << host_.violations()[0];
}

TEST_F(AgentLoopTest, LyingAndMalformedTelemetryHasBoundedEffect) {
  host_.AddVm("a", kVmFmem, 768 * kMiB);
  host_.AddVm("liar", kVmFmem, 768 * kMiB);
  AgentConfig c = Config(host_.dir());
  c.vms["liar"].max_fmem_bytes = 800 * kMiB;
  Start(c);
  const std::vector<std::vector<std::array<uint64_t, 3>>> lies = {
      // Claims every byte up to far beyond its memory is hot (accepted,
      // clamped to its memory size; still bounded by its max).
      {{4, 0, 1 * kMiB}, {5, 0, 1'000'000}, {4, 1, 1ull << 50}, {5, 1, 1'000'000}},
      {{4, 0, 1 * kMiB}, {5, 0, 5'000'000}},                 // share > 100 %
      {{4, 0, 1 * kMiB}},                                    // half a point
      {{4, 0, 1 * kMiB}, {5, 0, 1000}, {4, 2, 2 * kMiB}, {5, 2, 2000}},  // gap
      {{4, 0, UINT64_MAX}, {5, 0, UINT64_MAX}},              // -1
      {{2, 0xffff, UINT64_MAX}, {3, 0xffff, 0}},             // PSI baseline huge
      {{2, 0xffff, 5}, {3, 0xffff, 0}},                      // PSI backwards
      {{2, 0xffff, 1ull << 62}, {3, 0xffff, 1ull << 62}},    // PSI absurd rate
      {{4, 0xffff, 1}, {5, 0xffff, 1}},                      // curve w/o index
      {{6, 0xffff, 2'000'000}},                              // SMEM share > 100 %
  };
  for (int round = 0; round < 4; ++round) {
    for (const auto& lie : lies) {
      clock_.Advance(absl::Seconds(1));
      const int64_t ms = absl::ToUnixMillis(clock_.Now());
      host_.Report("a", ms, FakeTieredHost::Curve(900 * kMiB, 950'000, 2 * kGiB));
      host_.Report("liar", ms, lie);
      (void)loop_->Tick();
      const auto l = host_.Snapshot("liar"), a = host_.Snapshot("a");
      EXPECT_LE(l.fmem_target(), 800 * kMiB);  // its own max
      EXPECT_GE(a.fmem_target(), 256 * kMiB);  // the honest VM's min
      EXPECT_LE(host_.SumTargets(), kBudget);
    }
  }
  ASSERT_NE(Vm("liar"), nullptr);
  EXPECT_GE(Vm("liar")->telemetry_rejected, 20u);
  EXPECT_FALSE(Vm("liar")->last_telemetry_error.empty());
  EXPECT_TRUE(host_.violations().empty());
  EXPECT_EQ(Vm("a")->telemetry_rejected, 0u);
}

TEST_F(AgentLoopTest, UnreachableVmIsPinnedAndStillCharged) {
  host_.AddVm("a", kVmFmem, 768 * kMiB);
  host_.AddVm("b", kVmFmem, 768 * kMiB);
  AgentConfig c = Config(host_.dir());
  c.qmp_timeout_ms = 100;
  Start(c);
  Period();
  const uint64_t b_target = host_.Snapshot("b").fmem_target();
  // B's QEMU hangs: its socket is there, it never answers.
  host_.server("b").Handle("__org.tiervm_query-hballoon", [](const nlohmann::json&) {
    tiervm::testing::FakeReply r;
    r.no_reply = true;
    return r;
  });
  const size_t sets = host_.Snapshot("b").fmem_targets_set.size();
  for (int i = 0; i < 12; ++i) Period();
  ASSERT_NE(Vm("b"), nullptr);
  EXPECT_EQ(Vm("b")->state, "unreachable");
  EXPECT_THAT(Vm("b")->error, HasSubstr("timed out"));
  // No commands to B; B stays charged at max(target, actual) = 768 MiB, so
  // A may have at most the rest.
  EXPECT_EQ(host_.Snapshot("b").fmem_targets_set.size(), sets);
  EXPECT_EQ(host_.Snapshot("b").fmem_target(), b_target);
  EXPECT_LE(host_.Snapshot("a").fmem_target(), kBudget - 768 * kMiB);
  EXPECT_TRUE(host_.violations().empty());
  EXPECT_THAT(loop_->MetricsText(), HasSubstr("tiervm_vm_reachable{vm=\"b\"} 0\n"));
}

TEST_F(AgentLoopTest, VanishedSocketMeansTheVmIsGone) {
  host_.AddVm("a", kVmFmem, 768 * kMiB);
  host_.AddVm("b", kVmFmem, 768 * kMiB);
  Start(Config(host_.dir()));
  Period();
  ASSERT_NE(Vm("b"), nullptr);
  host_.server("b").StopListening();  // QEMU exited: its socket is gone
  clock_.Advance(absl::Seconds(1));
  (void)loop_->Tick();
  EXPECT_EQ(Vm("b"), nullptr);
}

TEST_F(AgentLoopTest, BudgetBelowMinimumsActuatesNothing) {
  host_.AddVm("a", kVmFmem, 512 * kMiB);
  host_.AddVm("b", kVmFmem, 512 * kMiB);
  AgentConfig c = Config(host_.dir());
  c.defaults.min_fmem_bytes = 1 * kGiB;  // 2 GiB of minimums > 1.5 GiB
  Start(c);
  Period();
  EXPECT_THAT(loop_->status().last_error, HasSubstr("budget"));
  EXPECT_TRUE(log_.empty());
}

TEST_F(AgentLoopTest, ControlRequests) {
  host_.AddVm("a", kVmFmem, 768 * kMiB);
  Start(Config(host_.dir()));
  Period(false);
  nlohmann::json s = nlohmann::json::parse(loop_->HandleControl(R"({"cmd":"status"})"));
  EXPECT_EQ(s["ok"], true);
  EXPECT_EQ(s["policy"], "utility");
  EXPECT_EQ(s["budget_bytes"], kBudget);
  ASSERT_EQ(s["vms"].size(), 1u);
  for (const char* k : {"vm", "fmem_target_bytes", "fmem_actual_bytes", "smem_bytes",
                        "hot_bytes", "smem_share_ppm", "psi_some_ppm", "min_fmem_bytes",
                        "max_fmem_bytes", "weight", "state"}) {
    EXPECT_TRUE(s["vms"][0].contains(k)) << k;
  }
  EXPECT_EQ(s["vms"][0]["fmem_actual_bytes"], 768 * kMiB);
  EXPECT_EQ(s["vms"][0]["max_fmem_bytes"], kVmFmem);

  EXPECT_THAT(loop_->HandleControl(R"({"cmd":"set","vm":"a","max_fmem_bytes":536870912,"weight":3})"),
              HasSubstr("\"ok\":true"));
  Period(false);
  s = nlohmann::json::parse(loop_->HandleControl(R"({"cmd":"status"})"));
  EXPECT_EQ(s["vms"][0]["max_fmem_bytes"], 512 * kMiB);
  EXPECT_EQ(s["vms"][0]["weight"], 3);

  EXPECT_THAT(loop_->HandleControl(R"({"cmd":"set","vm":"nosuch","weight":3})"),
              HasSubstr("no VM named 'nosuch'"));
  EXPECT_THAT(loop_->HandleControl(R"({"cmd":"set","vm":"a","min_fmem_bytes":1073741824})"),
              HasSubstr("above max"));
  EXPECT_THAT(loop_->HandleControl("{not json"), HasSubstr("not valid JSON"));
  EXPECT_THAT(loop_->HandleControl(R"({"cmd":"reboot"})"), HasSubstr("unknown cmd"));

  // A hook announces a VM with its own socket outside the directory.
  host_.AddVm("c", kVmFmem, 256 * kMiB);
  const std::string sock = host_.server("c").socket_path();
  EXPECT_THAT(loop_->HandleControl(absl::StrCat(
                  R"({"cmd":"vm-event","vm":"hooked","event":"started","qmp_socket":")",
                  sock, R"(","min_fmem_bytes":268435456,"weight":2})")),
              HasSubstr("\"ok\":true"));
  Period(false);
  ASSERT_NE(Vm("hooked"), nullptr);
  EXPECT_EQ(Vm("hooked")->weight, 2u);
  EXPECT_EQ(Vm("hooked")->min_fmem_bytes, 256 * kMiB);
  EXPECT_THAT(loop_->HandleControl(
                  R"({"cmd":"vm-event","vm":"hooked","event":"started","qmp_socket":"/nonexistent"})"),
              HasSubstr("not an absolute path to a socket"));
  EXPECT_THAT(loop_->HandleControl(R"({"cmd":"vm-event","vm":"hooked","event":"stopped"})"),
              HasSubstr("\"ok\":true"));
  Period(false);
  EXPECT_EQ(Vm("hooked"), nullptr);
}

// numa_maps of whatever pid is asked for (every fake QEMU is this test
// process, so the pid cannot tell VMs apart: the tests measure one VM).
class FakeNumaMapsReader final : public NumaMapsReader {
 public:
  absl::StatusOr<NumaResidency> Read(int pid) override {
    pids.push_back(pid);
    if (!error.ok()) return error;
    return residency;
  }
  NumaResidency residency;
  absl::Status error;
  std::vector<int> pids;
};

TEST_F(AgentLoopTest, ResidentFmemAboveTargetIsFlaggedReportedAndCharged) {
  host_.AddVm("a", kVmFmem, 768 * kMiB);
  AgentConfig c = Config(host_.dir());
  c.measure_fmem_residency = true;
  c.fmem_nodes = {1};
  FakeNumaMapsReader numa;
  // The device says 768 MiB; 1600 MiB are resident on the FMEM node (the
  // guest touched ballooned pages), more than the 1536 MiB budget.  What
  // is on node 0 (SMEM, QEMU itself) is not FMEM.
  numa.residency.node_bytes = {{0, 8 * kGiB}, {1, 1600 * kMiB}};
  Start(c, &numa);
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(absl::Seconds(1));
    host_.Report("a", absl::ToUnixMillis(clock_.Now()),
                 FakeTieredHost::Curve(900 * kMiB, 950'000, 2 * kGiB));
    (void)loop_->Tick();
  }
  ASSERT_FALSE(numa.pids.empty());
  EXPECT_EQ(numa.pids.back(), ::getpid());  // SO_PEERCRED of the fake QEMU
  const VmStatus* a = Vm("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->fmem_resident_bytes, 1600 * kMiB);
  EXPECT_TRUE(a->fmem_over_target);
  EXPECT_EQ(a->residency_error, "");
  // Charged: over budget, so the hot VM got no more FMEM and is asked to
  // give memory back.
  EXPECT_EQ(host_.Snapshot("a").fmem_target(), 768 * kMiB);
  EXPECT_EQ(loop_->status().host_pressure, "high");
  const nlohmann::json j = loop_->StatusJson();
  EXPECT_EQ(j["vms"][0]["fmem_resident_bytes"], 1600 * kMiB);
  EXPECT_EQ(j["vms"][0]["fmem_over_target"], true);
  const std::string m = loop_->MetricsText();
  EXPECT_THAT(m, HasSubstr("tiervm_vm_fmem_resident_bytes{vm=\"a\"} 1677721600\n"));
  EXPECT_THAT(m, HasSubstr("tiervm_vm_fmem_over_target{vm=\"a\"} 1\n"));

  // Unreadable numa_maps: not measured, said why, flag cleared.
  numa.error = absl::NotFoundError("/proc/1/numa_maps: not found");
  clock_.Advance(absl::Seconds(1));
  (void)loop_->Tick();
  a = Vm("a");
  EXPECT_EQ(a->fmem_resident_bytes, std::nullopt);
  EXPECT_FALSE(a->fmem_over_target);
  EXPECT_THAT(a->residency_error, HasSubstr("not found"));
  EXPECT_EQ(loop_->StatusJson()["vms"][0]["fmem_resident_bytes"], nullptr);
  EXPECT_THAT(loop_->MetricsText(), ::testing::Not(HasSubstr("tiervm_vm_fmem_resident_bytes{")));
}

TEST_F(AgentLoopTest, ResidencyIsNotMeasuredUnlessConfigured) {
  host_.AddVm("a", kVmFmem, 768 * kMiB);
  FakeNumaMapsReader numa;
  Start(Config(host_.dir()), &numa);
  clock_.Advance(absl::Seconds(1));
  (void)loop_->Tick();
  EXPECT_TRUE(numa.pids.empty());
  ASSERT_NE(Vm("a"), nullptr);
  EXPECT_EQ(Vm("a")->fmem_resident_bytes, std::nullopt);
  EXPECT_EQ(Vm("a")->residency_error, "");
}

TEST_F(AgentLoopTest, MetricsTextFormat) {
  host_.AddVm("a", kVmFmem, 768 * kMiB);
  host_.AddVm("b", kVmFmem, 768 * kMiB);
  Start(Config(host_.dir()));
  Period(false);
  const std::string m = loop_->MetricsText();
  EXPECT_THAT(m, HasSubstr("tiervm_vm_fmem_target_bytes{vm=\"a\"} 805306368\n"));
  EXPECT_THAT(m, HasSubstr("tiervm_vm_fmem_actual_bytes{vm=\"b\"} 805306368\n"));
  EXPECT_THAT(m, HasSubstr("tiervm_fmem_budget_bytes 1610612736\n"));
  EXPECT_THAT(m, HasSubstr("# TYPE tiervm_vm_telemetry_rejected_total counter\n"));
  EXPECT_THAT(m, HasSubstr("tiervm_host_free_fmem_bytes "));
  EXPECT_THAT(m, HasSubstr("tiervm_tick_duration_seconds "));
  // Every line is a comment or `name{labels} value`, and every metric has
  // HELP and TYPE before its first sample.
  std::set<std::string> typed;
  size_t pos = 0;
  while (pos < m.size()) {
    const size_t nl = m.find('\n', pos);
    ASSERT_NE(nl, std::string::npos) << "last line without newline";
    const std::string line = m.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) continue;
    const size_t sp = line.rfind(' ');
    ASSERT_NE(sp, std::string::npos) << line;
    std::string name = line.substr(0, sp);
    name = name.substr(0, name.find('{'));
    EXPECT_TRUE(typed.contains(name)) << line;
    const std::string value = line.substr(sp + 1);
    EXPECT_FALSE(value.empty());
    EXPECT_EQ(value.find_first_not_of("0123456789.e-+"), std::string::npos) << line;
  }
}

TEST(HotBytesTest, NinetyPercentOfTheCurve) {
  Telemetry t;
  EXPECT_EQ(HotBytes(t), 0u);
  t.hotness = {{100 * kMiB, 900'000}, {1 * kGiB, 1'000'000}};
  EXPECT_EQ(HotBytes(t), 100 * kMiB);
  t.hotness = {{1 * kGiB, 1'000'000}};
  EXPECT_NEAR(static_cast<double>(HotBytes(t)), 0.9 * kGiB, kMiB);
}

TEST(StatTagsTest, MatchTheWireHeader) {
  EXPECT_EQ(kStatPsiSomeUs, VIRTIO_HBALLOON_STAT_PSI_SOME_US);
  EXPECT_EQ(kStatPsiFullUs, VIRTIO_HBALLOON_STAT_PSI_FULL_US);
  EXPECT_EQ(kStatHotBytes, VIRTIO_HBALLOON_STAT_HOT_BYTES);
  EXPECT_EQ(kStatHotSharePpm, VIRTIO_HBALLOON_STAT_HOT_SHARE_PPM);
  EXPECT_EQ(kStatSmemSharePpm, VIRTIO_HBALLOON_STAT_SMEM_SHARE_PPM);
  EXPECT_EQ(kStatNodeAny, VIRTIO_HBALLOON_STAT_NODE_ANY);
}

}  // namespace
}  // namespace tiervm::agent

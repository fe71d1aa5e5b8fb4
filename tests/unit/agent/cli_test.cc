// The `tiervm` CLI against a real control socket served by a real
// AgentLoop (fake QMP VMs), and its argument errors.
#include "cli/cli.h"

#include <atomic>
#include <sstream>
#include <thread>

#include "adapters/vm_source_qmp_dir.h"
#include "core/clock.h"
#include "daemon/agent_loop.h"
#include "daemon/servers.h"
#include "fake_tiered_host.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"

namespace tiervm::agent {
namespace {

using ::testing::HasSubstr;
using testing::FakeTieredHost;

struct CliRun {
  int rc;
  std::string out, err;
};

CliRun Cli(std::vector<std::string> args, const cli::XmlCommand& xml = nullptr) {
  std::ostringstream out, err;
  const int rc = cli::RunCli(args, out, err, xml);
  return {rc, out.str(), err.str()};
}

TEST(CliTest, UsageErrors) {
  EXPECT_EQ(Cli({}).rc, 2);
  EXPECT_EQ(Cli({"frob"}).rc, 2);
  EXPECT_THAT(Cli({"frob"}).err, HasSubstr("unknown command 'frob'"));
  EXPECT_THAT(Cli({"set"}).err, HasSubstr("missing VM name"));
  EXPECT_THAT(Cli({"set", "a"}).err, HasSubstr("at least one of"));
  EXPECT_THAT(Cli({"set", "a", "--min", "lots"}).err, HasSubstr("bad size 'lots'"));
  EXPECT_THAT(Cli({"set", "a", "--weight", "0"}).err, HasSubstr("1..1000"));
  EXPECT_THAT(Cli({"set", "a", "--max"}).err, HasSubstr("needs a value"));
  EXPECT_THAT(Cli({"status", "--yaml"}).err, HasSubstr("unknown argument"));
  CliRun x = Cli({"xml", "convert"});
  EXPECT_EQ(x.rc, 2);
  EXPECT_THAT(x.err, HasSubstr("not built"));
  x = Cli({"xml", "a", "b"}, [](const std::vector<std::string>& a, std::ostream& o,
                                std::ostream&) {
    o << a.size();
    return 0;
  });
  EXPECT_EQ(x.rc, 0);
  EXPECT_EQ(x.out, "2");
}

TEST(CliTest, StatusTableShowsResidentFmemAndOverTarget) {
  const nlohmann::json status = {
      {"policy", "utility"},
      {"vms",
       {{{"vm", "a"}, {"state", "idle"}, {"fmem_target_bytes", 768 * kMiB},
         {"fmem_resident_bytes", 1600 * kMiB}, {"fmem_over_target", true}},
        {{"vm", "b"}, {"state", "idle"}, {"fmem_resident_bytes", nullptr},
         {"residency_error", "QEMU pid unknown"}}}}};
  const std::string t = cli::FormatStatusTable(status);
  EXPECT_THAT(t, HasSubstr("  FMEM resident: 1600  OVER TARGET"));
  EXPECT_THAT(t, HasSubstr("  FMEM residency: QEMU pid unknown"));
  EXPECT_EQ(t.find("FMEM resident: 0"), std::string::npos);
}

TEST(CliTest, AgentNotRunning) {
  CliRun r = Cli({"--socket", "/tmp/tiervm-no-such-agent.sock", "status"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("tiervm-agent is not running"));
}

TEST(CliTest, StatusAndSetAgainstTheAgent) {
  spdlog::set_level(spdlog::level::warn);
  FakeTieredHost host(4 * kGiB, 1536 * kMiB, 64 * kMiB);
  host.AddVm("alpha", kGiB, 768 * kMiB);
  host.AddVm("beta", kGiB, 512 * kMiB);
  FakeClock clock;
  QmpDirOptions o;
  o.dir = host.dir();
  QmpDirVmSource source(o);
  AgentConfig c;
  c.budget_bytes = 1536 * kMiB;
  c.qmp_socket_dir = host.dir();
  c.core.pressure.high_free_bytes = 64 * kMiB;
  c.core.pressure.min_low_free_bytes = 128 * kMiB;
  c.core.pressure.initial_low_free_bytes = 128 * kMiB;
  auto loop = AgentLoop::Create(c, {&source, &host, &clock, nullptr});
  ASSERT_TRUE(loop.ok()) << loop.status();
  ASSERT_TRUE((*loop)->Tick().ok());
  const std::string sock = host.dir() + "/ctl/agent.sock";
  auto server = ControlServer::Listen(
      sock, [&loop](std::string_view l) { return (*loop)->HandleControl(l); });
  ASSERT_TRUE(server.ok()) << server.status();
  std::atomic<bool> stop{false};
  std::thread t([&] {
    while (!stop) ServeFor({server->get()}, 20);
  });

  CliRun r = Cli({"--socket", sock, "status"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("policy utility"));
  EXPECT_THAT(r.out, HasSubstr("FMEM_TGT"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("alpha +[a-z]+ +[0-9]+ +768 +1024 "));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("beta +idle +512 +512 +1024 "));
  r = Cli({"status", "--json", "--socket", sock});
  EXPECT_EQ(r.rc, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["vms"][0]["vm"], "alpha");
  EXPECT_EQ(j["vms"][1]["fmem_actual_bytes"], 512 * kMiB);

  r = Cli({"--socket", sock, "set", "beta", "--min", "256MiB", "--max", "0.75GiB",
           "--weight", "5"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  r = Cli({"--socket", sock, "set", "gamma", "--weight", "5"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("agent: no VM named 'gamma'"));
  stop = true;
  t.join();
  ASSERT_TRUE((*loop)->Tick().ok());
  bool seen = false;
  for (const VmStatus& v : (*loop)->status().vms) {
    if (v.vm != "beta") continue;
    seen = true;
    EXPECT_EQ(v.min_fmem_bytes, 256 * kMiB);
    EXPECT_EQ(v.max_fmem_bytes, 768 * kMiB);
    EXPECT_EQ(v.weight, 5u);
  }
  EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace tiervm::agent

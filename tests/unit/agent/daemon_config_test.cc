// tiervm-agent's TOML config: a full good file, and bad files whose errors
// must name file:line:key.
#include "daemon/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "daemon/logging.h"

#include "daemon/units.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tiervm::agent {
namespace {

using ::testing::HasSubstr;

TEST(DaemonConfigTest, FullFile) {
  absl::StatusOr<AgentConfig> c = ParseAgentConfig(R"(
budget = "3GiB"
fmem_nodes = [0, 2]
period_ms = 500
policy = "proportional"
qmp_socket_dir = "/run/tiervm/qmp"
qmp_timeout_ms = 1500
control_socket = "/run/tiervm/agent.sock"
metrics_listen = "127.0.0.1:9900"
target_log = "/var/log/tiervm/targets.jsonl"

[defaults]
min_fmem = "256MiB"
weight = 2
psi_some_target_ppm = 20000
smem_share_target_ppm = 300000

[telemetry]
min_interval_ms = 2000
max_age_ms = 60000

[actuator]
shrink_timeout_ms = 30000
grow_timeout_ms = 40000
stuck_retry_ms = 120000
settle_tolerance = "4MiB"

[guard]
min_shrink_step = "32MiB"
shrink_step_ppm = 50000
max_grow_step = "512MiB"

[pressure]
high_free = "256MiB"
low_free = "1GiB"
min_low_free = "512MiB"
max_low_free = "4GiB"
adapt_step = "128MiB"
adapt_period_ms = 30000
expected_high_ticks = 2

[vm."db-1"]
min_fmem = 1073741824
max_fmem = "2GiB"
weight = 10
)", "agent.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->budget_bytes, 3 * kGiB);
  EXPECT_EQ(c->fmem_nodes, (std::vector<int>{0, 2}));
  EXPECT_EQ(c->period_ms, 500);
  EXPECT_EQ(c->core.policy, "proportional");
  EXPECT_EQ(c->qmp_socket_dir, "/run/tiervm/qmp");
  EXPECT_EQ(c->qmp_timeout_ms, 1500);
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9900");
  EXPECT_EQ(c->target_log, "/var/log/tiervm/targets.jsonl");
  EXPECT_EQ(c->defaults.min_fmem_bytes, 256 * kMiB);
  EXPECT_EQ(c->defaults.weight, 2u);
  EXPECT_EQ(c->psi_some_target_ppm, 20000u);
  EXPECT_EQ(c->smem_share_target_ppm, 300000u);
  EXPECT_EQ(c->telemetry.min_interval, absl::Seconds(2));
  EXPECT_EQ(c->telemetry_max_age, absl::Seconds(60));
  EXPECT_EQ(c->core.actuator.shrink_timeout, absl::Seconds(30));
  EXPECT_EQ(c->core.actuator.grow_timeout, absl::Seconds(40));
  EXPECT_EQ(c->core.actuator.stuck_retry_after, absl::Minutes(2));
  EXPECT_EQ(c->core.actuator.settle_tolerance_bytes, 4 * kMiB);
  EXPECT_EQ(c->core.policy_args.guard.min_shrink_step_bytes, 32 * kMiB);
  EXPECT_EQ(c->core.policy_args.guard.shrink_step_ppm, 50000u);
  EXPECT_EQ(c->core.policy_args.guard.max_grow_step_bytes, 512 * kMiB);
  EXPECT_EQ(c->core.pressure.high_free_bytes, 256 * kMiB);
  EXPECT_EQ(c->core.pressure.initial_low_free_bytes, 1 * kGiB);
  EXPECT_EQ(c->core.pressure.expected_high_ticks_per_period, 2u);
  ASSERT_TRUE(c->vms.contains("db-1"));
  EXPECT_EQ(c->vms["db-1"].min_fmem_bytes, 1 * kGiB);
  EXPECT_EQ(c->vms["db-1"].max_fmem_bytes, 2 * kGiB);
  EXPECT_EQ(c->vms["db-1"].weight, 10u);
}

// spdlog turns an unknown level name into "off": a typo must be an
// error, not a silent agent.
TEST(DaemonConfigTest, LogLevelNamesAreCheckedNotSilentlyOff) {
  using spdlog::level::level_enum;
  EXPECT_EQ(*ParseLogLevel("trace"), level_enum::trace);
  EXPECT_EQ(*ParseLogLevel("info"), level_enum::info);
  EXPECT_EQ(*ParseLogLevel("warn"), level_enum::warn);
  EXPECT_EQ(*ParseLogLevel("warning"), level_enum::warn);
  EXPECT_EQ(*ParseLogLevel("error"), level_enum::err);
  EXPECT_EQ(*ParseLogLevel("off"), level_enum::off);
  for (std::string_view l : kLogLevels) EXPECT_TRUE(ParseLogLevel(l).ok()) << l;
  for (std::string_view bad : {"INFO", "", "verbose", "info ", "err"}) {
    absl::StatusOr<level_enum> r = ParseLogLevel(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("trace|debug|info|warn|error|off"));
  }
}

// JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected to
// journald; only a match with the fd's own file means "log to the journal"
// (an inherited variable with stderr redirected elsewhere does not).
TEST(DaemonLoggingTest, JournalStreamMustNameTheFdsFile) {
  char path[] = "/tmp/tiervm-journal-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  const std::string mine = absl::StrCat(static_cast<unsigned long long>(st.st_dev), ":",
                                        static_cast<unsigned long long>(st.st_ino));
  EXPECT_TRUE(FdIsJournalStream(mine.c_str(), fd));
  EXPECT_FALSE(FdIsJournalStream(nullptr, fd));
  EXPECT_FALSE(FdIsJournalStream("", fd));
  EXPECT_FALSE(FdIsJournalStream(absl::StrCat(mine, "x").c_str(), fd));
  EXPECT_FALSE(FdIsJournalStream(absl::StrCat(mine, "1").c_str(), fd));
  EXPECT_FALSE(FdIsJournalStream(absl::StrCat(static_cast<unsigned long long>(st.st_dev), ":",
                                              static_cast<unsigned long long>(st.st_ino) + 1)
                                     .c_str(),
                                 fd));
  EXPECT_FALSE(FdIsJournalStream("garbage", fd));
  EXPECT_FALSE(FdIsJournalStream(mine.c_str(), -1));
  ::close(fd);
  ::unlink(path);
}

// The example shipped for /etc/tiervm/agent.toml must be a working
// config as it stands (the operator edits the budget).
TEST(DaemonConfigTest, ShippedExampleParses) {
  absl::StatusOr<AgentConfig> c = LoadAgentConfig(AGENT_TOML_EXAMPLE);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->budget_bytes, 64ull << 30);
  EXPECT_EQ(c->libvirt_uri, "qemu:///system");
  EXPECT_TRUE(c->qmp_socket_dir.empty());
}

TEST(DaemonConfigTest, MinimalFileHasDefaults) {
  absl::StatusOr<AgentConfig> c =
      ParseAgentConfig("budget = 1073741824\nlibvirt_uri = \"qemu:///system\"\n", "a.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->period_ms, 1000);
  EXPECT_EQ(c->core.policy, "utility");
  EXPECT_EQ(c->control_socket, "/run/tiervm/agent.sock");
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9848");
  EXPECT_EQ(c->fmem_nodes, (std::vector<int>{0}));
  EXPECT_FALSE(c->measure_fmem_residency);
}

TEST(DaemonConfigTest, MeasureFmemResidency) {
  absl::StatusOr<AgentConfig> c = ParseAgentConfig(
      "budget = 1073741824\nqmp_socket_dir = \"/q\"\nfmem_nodes = [1]\n"
      "measure_fmem_residency = true\n",
      "a.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->measure_fmem_residency);
}

struct BadCase {
  const char* toml;
  const char* want;  // substring of the error
};

TEST(DaemonConfigTest, BadFilesNameFileLineAndKey) {
  const BadCase cases[] = {
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\nperiod_ms = \"fast\"\n",
       "agent.toml:3: period_ms: expected an integer"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\nperiod_ms = 10\n",
       "agent.toml:3: period_ms: 10 is outside 50..3600000"},
      {"budget = \"lots\"\nqmp_socket_dir = \"/q\"\n",
       "agent.toml:1: budget: bad size 'lots'"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\nbugdet = 3\n",
       "agent.toml:3: bugdet: unknown key"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\n[vm.\"a\"]\nmin_fmem = \"2GiB\"\nmax_fmem = \"1GiB\"\n",
       "agent.toml:3: vm.\"a\": min_fmem is above max_fmem"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\n[vm.\"a\"]\nweight = 0\n",
       "agent.toml:4: vm.\"a\".weight: 0 is outside 1..1000"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\n[vm.\"a\"]\nmin = 1\n",
       "agent.toml:4: vm.\"a\".min: unknown key"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\n[vm.\"bad name\"]\nweight = 1\n",
       "agent.toml:3: vm.\"bad name\": VM names are"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\n[pressure]\nhigh_free = -5\n",
       "agent.toml:4: pressure.high_free: negative size"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\nfmem_nodes = []\n",
       "agent.toml:3: fmem_nodes: expected a non-empty array"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\nlibvirt_uri = \"qemu:///system\"\n",
       "agent.toml:3: libvirt_uri: set either"},
      {"budget = \"1GiB\"\n", "agent.toml: one of qmp_socket_dir or libvirt_uri"},
      {"qmp_socket_dir = \"/q\"\n", "agent.toml: budget: required"},
      {"budget = 0\nqmp_socket_dir = \"/q\"\n", "agent.toml:1: budget: must be > 0"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\ncontrol_socket = \"rel\"\n",
       "control_socket: must be an absolute path"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\n[telemetry\n", "agent.toml:3: "},
      {"budget = \"1GiB\"\nbudget = \"2GiB\"\n", "agent.toml:2: "},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\ntelemetry = 5\n",
       "agent.toml:3: telemetry: expected a table"},
      {"budget = \"1GiB\"\nqmp_socket_dir = \"/q\"\nmeasure_fmem_residency = 1\n",
       "agent.toml:3: measure_fmem_residency: expected true or false"},
  };
  for (const BadCase& bc : cases) {
    absl::StatusOr<AgentConfig> c = ParseAgentConfig(bc.toml, "agent.toml");
    ASSERT_FALSE(c.ok()) << bc.toml;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(bc.want)) << bc.toml;
  }
}

TEST(DaemonConfigTest, IncompleteFileForFlags) {
  absl::StatusOr<AgentConfig> c = ParseAgentConfig("period_ms = 200\n", "a.toml", false);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(ValidateAgentConfig(*c).ok());
  c->budget_bytes = kGiB;
  c->qmp_socket_dir = "/q";
  EXPECT_TRUE(ValidateAgentConfig(*c).ok());
}

TEST(DaemonConfigTest, MissingFile) {
  absl::StatusOr<AgentConfig> c = LoadAgentConfig("/nonexistent/agent.toml");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
}

TEST(UnitsTest, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("512MiB"), 512 * kMiB);
  EXPECT_EQ(*ParseByteSize("512 mib"), 512 * kMiB);
  EXPECT_EQ(*ParseByteSize("2G"), 2 * kGiB);
  EXPECT_EQ(*ParseByteSize("1.5GiB"), 1536 * kMiB);
  EXPECT_EQ(*ParseByteSize("3KiB"), 3072u);
  for (const char* bad : {"", "MiB", "-1", "1.2.3G", "5 parsecs", "99999999999999999999",
                          "20000000TiB"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
  EXPECT_EQ(FormatBytes(512 * kMiB), "512 MiB");
  EXPECT_EQ(FormatBytes(1536 * kMiB), "1.50 GiB");
  EXPECT_EQ(FormatBytes(12), "12 B");
}

}  // namespace
}  // namespace tiervm::agent

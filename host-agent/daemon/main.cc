// tiervm-agent: splits the host's FMEM across VMs (host-agent/README.md).
// Flags are read here and nowhere else; everything else is AgentLoop.
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/libvirt/libvirt_vm_source.h"
#include "adapters/vm_source_qmp_dir.h"
#include "core/clock.h"
#include "daemon/agent_loop.h"
#include "daemon/config.h"
#include "daemon/logging.h"
#include "daemon/servers.h"
#include "daemon/units.h"
#include "spdlog/spdlog.h"

namespace {

using namespace tiervm::agent;  // NOLINT: main

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

constexpr char kUsage[] =
    "usage: tiervm-agent [--config FILE] [flags]\n"
    "  --config FILE          TOML config (default /etc/tiervm/agent.toml if it exists)\n"
    "  --budget SIZE          FMEM budget, e.g. 8GiB (overrides budget)\n"
    "  --qmp-dir DIR          directory of <vm>.sock QMP sockets (qmp_socket_dir)\n"
    "  --libvirt-uri URI      use libvirt instead (libvirt_uri)\n"
    "  --policy NAME          utility | proportional | static\n"
    "  --period-ms N          tick period\n"
    "  --control-socket PATH  (default /run/tiervm/agent.sock)\n"
    "  --metrics-listen H:P   (default 127.0.0.1:9848; \"\" disables)\n"
    "  --target-log FILE      append one JSON line per target set\n"
    "  --host-root DIR        root of /proc and /sys (tests)\n"
    "  --log-level LEVEL      trace|debug|info|warn|error|off (default info)\n"
    "  --check-config         parse the config, print it, exit\n";

int Fail(const std::string& msg) {
  std::fprintf(stderr, "tiervm-agent: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool explicit_config = false;
  std::map<std::string, std::string> flags;
  bool check_only = false;
  std::string log_level = "info";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--check-config") {
      check_only = true;
      continue;
    }
    std::string key = a, value;
    const size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      key = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else if (a.rfind("--", 0) == 0 && i + 1 < argc) {
      value = argv[++i];
    } else {
      return Fail(absl::StrCat("bad argument '", a, "'\n", kUsage));
    }
    if (key == "--config") {
      config_path = value;
      explicit_config = true;
    } else if (key == "--log-level") {
      log_level = value;
    } else if (key == "--budget" || key == "--qmp-dir" || key == "--libvirt-uri" ||
               key == "--policy" || key == "--period-ms" || key == "--control-socket" ||
               key == "--metrics-listen" || key == "--target-log" || key == "--host-root") {
      flags[key] = value;
    } else {
      return Fail(absl::StrCat("unknown flag '", key, "'\n", kUsage));
    }
  }
  absl::StatusOr<spdlog::level::level_enum> level = ParseLogLevel(log_level);
  if (!level.ok()) return Fail(absl::StrCat(level.status().message(), "\n", kUsage));
  SetUpLogging(*level, "tiervm-agent");

  AgentConfig config;
  if (!explicit_config) {
    std::ifstream probe("/etc/tiervm/agent.toml");
    if (probe) config_path = "/etc/tiervm/agent.toml";
  }
  if (!config_path.empty()) {
    // Budget and source may come from flags: checked after they apply.
    absl::StatusOr<AgentConfig> c = LoadAgentConfig(config_path, /*complete=*/false);
    if (!c.ok()) return Fail(std::string(c.status().message()));
    config = *std::move(c);
  }
  for (const auto& [k, v] : flags) {
    if (k == "--budget") {
      absl::StatusOr<uint64_t> b = ParseByteSize(v);
      if (!b.ok()) return Fail(absl::StrCat("--budget: ", b.status().message()));
      config.budget_bytes = *b;
    } else if (k == "--qmp-dir") {
      config.qmp_socket_dir = v;
      config.libvirt_uri.clear();
    } else if (k == "--libvirt-uri") {
      config.libvirt_uri = v;
      config.qmp_socket_dir.clear();
    } else if (k == "--policy") {
      config.core.policy = v;
    } else if (k == "--period-ms") {
      if (!absl::SimpleAtoi(v, &config.period_ms)) return Fail("--period-ms: not a number");
    } else if (k == "--control-socket") {
      config.control_socket = v;
    } else if (k == "--metrics-listen") {
      config.metrics_listen = v;
    } else if (k == "--target-log") {
      config.target_log = v;
    } else if (k == "--host-root") {
      config.host_root = v;
    }
  }
  if (absl::Status s = ValidateAgentConfig(config); !s.ok()) {
    return Fail(absl::StrCat(config_path.empty() ? "flags" : config_path, ": ", s.message()));
  }
  if (check_only) {
    std::printf("config ok: budget %s, policy %s, period %d ms, source %s\n",
                FormatBytes(config.budget_bytes).c_str(), config.core.policy.c_str(),
                config.period_ms,
                config.qmp_socket_dir.empty() ? config.libvirt_uri.c_str()
                                              : config.qmp_socket_dir.c_str());
    return 0;
  }

  std::unique_ptr<VmSource> source;
  if (!config.qmp_socket_dir.empty()) {
    QmpDirOptions o;
    o.dir = config.qmp_socket_dir;
    o.connect_timeout_ms = config.qmp_timeout_ms;
    o.command_timeout_ms = config.qmp_timeout_ms;
    source = std::make_unique<QmpDirVmSource>(o);
  } else {
    source = std::make_unique<LibvirtVmSource>(MakeRealLibvirtApi(config.libvirt_uri));
  }
  ProcfsHostProbe host(config.host_root, config.fmem_nodes);
  ProcfsNumaMapsReader numa_maps(config.host_root);

  std::unique_ptr<std::ofstream> target_log;
  if (!config.target_log.empty()) {
    target_log = std::make_unique<std::ofstream>(config.target_log, std::ios::app);
    if (!*target_log) return Fail(absl::StrCat("cannot open target log ", config.target_log));
  }
  AgentLoop::Deps deps;
  deps.source = source.get();
  deps.host = &host;
  deps.clock = &RealClock::Get();
  deps.numa_maps = &numa_maps;  // used only with measure_fmem_residency
  deps.on_target = [&target_log](const TargetLogEntry& e) {
    if (!target_log) return;
    nlohmann::json j = {{"t_ms", absl::ToUnixMillis(e.time)},
                        {"vm", e.vm},
                        {"node", e.node},
                        {"fmem_target_bytes", e.fmem_target_bytes},
                        {"previous_fmem_target_bytes", e.previous_fmem_target_bytes},
                        {"balloon_target_bytes", e.balloon_target_bytes},
                        {"sum_fmem_target_bytes", e.sum_fmem_target_bytes},
                        {"budget_bytes", e.budget_bytes},
                        {"ok", e.status.ok()}};
    if (!e.status.ok()) j["error"] = std::string(e.status.message());
    *target_log << j.dump() << "\n";
    target_log->flush();
  };
  absl::StatusOr<std::unique_ptr<AgentLoop>> loop = AgentLoop::Create(config, deps);
  if (!loop.ok()) return Fail(std::string(loop.status().message()));

  absl::StatusOr<std::unique_ptr<ControlServer>> control = ControlServer::Listen(
      config.control_socket,
      [&loop](std::string_view line) { return (*loop)->HandleControl(line); });
  if (!control.ok()) return Fail(std::string(control.status().message()));
  std::vector<StreamServer*> servers = {control->get()};
  std::unique_ptr<MetricsServer> metrics;
  if (!config.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> m = MetricsServer::Listen(
        config.metrics_listen, [&loop] { return (*loop)->MetricsText(); });
    if (!m.ok()) return Fail(std::string(m.status().message()));
    metrics = *std::move(m);
    servers.push_back(metrics.get());
  }

  struct sigaction sa{};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  spdlog::info("tiervm-agent: budget {} bytes, policy {}, period {} ms, source {}, "
               "control {}, metrics {}",
               config.budget_bytes, config.core.policy, config.period_ms,
               source->Describe(), config.control_socket,
               metrics ? absl::StrCat(config.metrics_listen.substr(0, config.metrics_listen.rfind(':')),
                                      ":", metrics->port())
                       : "off");
  uint64_t watchdog_us = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_us) > 0;
  bool ready = false;
  const auto period = std::chrono::milliseconds(config.period_ms);
  auto next = std::chrono::steady_clock::now();
  while (!g_stop) {
    (void)(*loop)->Tick();
    const AgentStatus& st = (*loop)->status();
    if (!ready) {
      sd_notify(0, "READY=1");
      ready = true;
    }
    sd_notifyf(0, "STATUS=%zu VMs, FMEM targets %s of %s%s%s", st.vms.size(),
               FormatBytes(st.sum_fmem_target_bytes).c_str(),
               FormatBytes(st.budget_bytes).c_str(),
               st.last_error.empty() ? "" : "; last error: ", st.last_error.c_str());
    if (watchdog) sd_notify(0, "WATCHDOG=1");
    next += period;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // a slow tick does not cause a burst
    while (!g_stop) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          next - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      ServeFor(servers, static_cast<int>(std::min<int64_t>(left, 200)));
    }
  }
  sd_notify(0, "STOPPING=1");
  spdlog::info("tiervm-agent: stopping");
  return 0;
}

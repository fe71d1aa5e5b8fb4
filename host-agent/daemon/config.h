// tiervm-agent configuration: the TOML file (tomlplusplus) and its
// defaults.  Every key is documented in host-agent/README.md
// ("Configuration"); main() may override some of them from flags.
//
// Errors name the file, line and key: `agent.toml:7: vm."db".max_fmem:
// bad size 'lots': expected a number (e.g. 512MiB)`.  Unknown keys are
// errors too (a typo must not silently fall back to a default).
//
// Plain value types; thread-compatible.
#ifndef TIERVM_HOST_AGENT_DAEMON_CONFIG_H_
#define TIERVM_HOST_AGENT_DAEMON_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/common.h>

#include "absl/status/statusor.h"
#include "adapters/vm_source.h"
#include "core/agent_core.h"
#include "core/telemetry_sanitizer.h"

namespace tiervm::agent {

struct AgentConfig {
  // FMEM the agent hands out to VMs in total (required).
  uint64_t budget_bytes = 0;
  // Host NUMA nodes whose MemFree is the host's free FMEM.
  std::vector<int> fmem_nodes = {0};
  int period_ms = 1000;
  // The policy name is core.policy.
  // Exactly one VM source.
  std::string qmp_socket_dir;
  std::string libvirt_uri;
  int qmp_timeout_ms = 2000;
  std::string control_socket = "/run/tiervm/agent.sock";
  // host:port for GET /metrics; empty disables.
  std::string metrics_listen = "127.0.0.1:9848";
  // JSON line per target set (empty: none).  spdlog logs them anyway.
  std::string target_log;
  // Root of /proc and /sys (tests point it at fixtures).
  std::string host_root = "/";
  // Measure each VM's QEMU resident memory on fmem_nodes (numa_maps) and
  // charge it when above the device's count.  Off by default: only right
  // when fmem_nodes hold FMEM backends alone (SMEM and the host's own
  // memory on other nodes); on a one-node host everything would count.
  bool measure_fmem_residency = false;

  // Settings for VMs without their own; min/max also clamp to the VM's
  // FMEM node size.
  VmSettings defaults;
  uint32_t psi_some_target_ppm = 10'000;
  uint32_t smem_share_target_ppm = 200'000;
  // Per-VM settings from [vm."name"].
  std::map<std::string, VmSettings> vms;

  TelemetryStoreConfig telemetry;
  absl::Duration telemetry_max_age = absl::Seconds(30);
  AgentCoreConfig core;
};

// Parses TOML text; `filename` is only used in messages.  With
// `complete` false the budget and the VM source may be missing (main()
// takes them from flags and runs ValidateAgentConfig afterwards).
absl::StatusOr<AgentConfig> ParseAgentConfig(std::string_view toml_text,
                                             std::string_view filename,
                                             bool complete = true);
// Reads and parses a file.
absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path,
                                            bool complete = true);
// Cross-field checks (also run by the parsers): a budget, exactly one VM
// source, period within [50 ms, 1 h], per-VM min <= max.
absl::Status ValidateAgentConfig(const AgentConfig& config);

// --log-level: one of kLogLevels ("warning" is taken for "warn").  An
// unknown name is an error that lists them: spdlog's own from_str() maps
// it to "off", which would silently drop every line.
inline constexpr std::string_view kLogLevels[] = {"trace", "debug", "info",
                                                   "warn",  "error", "off"};
absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view level);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_DAEMON_CONFIG_H_

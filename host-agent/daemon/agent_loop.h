// AgentLoop: the daemon's one loop body, everything of tiervm-agent except
// main(): per tick it rediscovers VMs (VmSource), reads every device back
// over QMP, decodes and submits guest telemetry, builds a HostSnapshot,
// runs AgentCore::Tick, writes the resulting targets and pressure levels
// to the devices and logs every target it sets.  Between ticks it answers
// control requests (HandleControl) and renders metrics (MetricsText).
//
// Safety around I/O failures:
//   * a VM whose device cannot be read this tick but was read before is
//     kept in the snapshot pinned at its last target (min = max = target),
//     so its FMEM stays charged to the budget and nothing is handed on;
//     no command is sent to it.  A VM never read is not in the accounting
//     (state "unreachable").
//   * a broken device (QEMU's `broken`) is pinned the same way.
//   * a snapshot that does not validate (Σ min > budget) actuates nothing.
//   * a failed set-target is logged; the next read-back shows the real
//     target, and the actuator's timeout covers a device that never moves.
// A restarted loop adopts what it reads back (the core's Actuator does it
// on its first tick): moves in flight keep going, nothing is re-issued.
//
// Resident FMEM (measure_fmem_residency): each tick the VM's QEMU pid
// (VmMonitor::ProcessId) is looked up in numa_maps and the bytes on
// fmem_nodes go into the snapshot; the core charges the higher of that and
// the device's count, and flags a VM over target (status, metrics, a log
// line when it starts and stops).  Nothing is enforced: see README.md.
//
// Settings precedence per VM: [defaults] < source (libvirt metadata) <
// [vm."name"] < control `set`/`vm-event`.  max is clamped to the FMEM node
// size (also the default max), min to max.
//
// Owns: the AgentCore, the TelemetryStore, per-VM decoders and counters.
// Borrows: the VmSource, HostProbe and Clock (must outlive it).
// Thread-safety: not synchronized; Tick, HandleControl and MetricsText are
// called from the one daemon thread.
#ifndef TIERVM_HOST_AGENT_DAEMON_AGENT_LOOP_H_
#define TIERVM_HOST_AGENT_DAEMON_AGENT_LOOP_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/procfs/host_procfs.h"
#include "adapters/procfs/numa_maps.h"
#include "adapters/stats/stats_decoder.h"
#include "adapters/vm_source.h"
#include "core/agent_core.h"
#include "core/clock.h"
#include "core/telemetry_sanitizer.h"
#include "daemon/config.h"
#include "daemon/control_protocol.h"
#include "nlohmann/json.hpp"

namespace tiervm::agent {

// The host readings a tick needs.  Thread-safety: called from the loop.
class HostProbe {
 public:
  virtual ~HostProbe() = default;
  virtual absl::StatusOr<uint64_t> FreeFmemBytes() = 0;
  virtual absl::StatusOr<MemoryPsi> Psi() = 0;
  virtual absl::StatusOr<KsmStats> Ksm() = 0;
};

// HostProbe over procfs/sysfs (HostProcfs).
class ProcfsHostProbe final : public HostProbe {
 public:
  ProcfsHostProbe(std::string root, std::vector<int> fmem_nodes)
      : fs_(std::move(root)), nodes_(std::move(fmem_nodes)) {}
  absl::StatusOr<uint64_t> FreeFmemBytes() override { return fs_.ReadFreeBytes(nodes_); }
  absl::StatusOr<MemoryPsi> Psi() override { return fs_.ReadMemoryPsi(); }
  absl::StatusOr<KsmStats> Ksm() override { return fs_.ReadKsm(); }

 private:
  HostProcfs fs_;
  std::vector<int> nodes_;
};

// One target the agent set (or tried to).
struct TargetLogEntry {
  absl::Time time;
  VmId vm;
  uint32_t node = 0;
  uint64_t fmem_target_bytes = 0;
  uint64_t balloon_target_bytes = 0;
  uint64_t previous_fmem_target_bytes = 0;
  // Σ FMEM targets of all VMs in the agent's accounting after this set.
  uint64_t sum_fmem_target_bytes = 0;
  uint64_t budget_bytes = 0;
  absl::Status status;
};

struct VmStatus {
  VmId vm;
  std::string state;  // idle|shrinking|growing|waiting|stuck|unreachable|broken|no-fmem-node
  uint64_t fmem_target_bytes = 0;
  uint64_t fmem_actual_bytes = 0;
  uint64_t fmem_node_bytes = 0;
  uint64_t smem_bytes = 0;
  uint64_t hot_bytes = 0;  // FMEM covering 90 % of accesses (telemetry)
  uint32_t smem_share_ppm = 0;
  uint32_t psi_some_ppm = 0;
  uint32_t psi_full_ppm = 0;
  bool telemetry_fresh = false;
  uint64_t min_fmem_bytes = 0;
  uint64_t max_fmem_bytes = 0;
  uint32_t weight = 1;
  std::string pressure = "none";
  uint64_t telemetry_accepted = 0;
  uint64_t telemetry_rejected = 0;  // sanitizer + decoder
  uint64_t telemetry_rate_limited = 0;
  std::string last_telemetry_error;
  uint64_t target_sets = 0;
  uint64_t target_set_errors = 0;
  uint64_t timeouts = 0;
  std::string error;  // last device/QMP error, empty when fine
  // Measured resident memory of the VM's QEMU on the FMEM node(s); absent
  // when not measured (residency_error says why, empty if switched off).
  std::optional<uint64_t> fmem_resident_bytes;
  std::string residency_error;
  // Resident FMEM above the target beyond the tolerance (core/host_snapshot.h
  // FmemOverTarget): the balloon does not hold what the agent asked for.
  bool fmem_over_target = false;
};

struct AgentStatus {
  std::string policy;
  std::string source;
  uint64_t budget_bytes = 0;
  uint64_t host_free_fmem_bytes = 0;
  std::string host_pressure = "none";
  uint64_t low_free_bytes = 0;
  uint64_t high_free_bytes = 0;
  uint64_t sum_fmem_target_bytes = 0;
  uint64_t ticks = 0;
  uint64_t tick_errors = 0;
  double last_tick_seconds = 0;
  std::string last_error;
  std::optional<KsmStats> ksm;
  std::optional<MemoryPsi> host_psi;
  std::vector<VmStatus> vms;  // sorted by name
};

// 90 % of the curve's final share: the "hot set" for status displays.
uint64_t HotBytes(const Telemetry& t);

class AgentLoop {
 public:
  struct Deps {
    VmSource* source = nullptr;
    HostProbe* host = nullptr;
    const Clock* clock = nullptr;
    // Called for every target set (after the QMP command returned).
    std::function<void(const TargetLogEntry&)> on_target;
    // Reads QEMU's numa_maps when config.measure_fmem_residency is set;
    // null: residency is not measured.
    NumaMapsReader* numa_maps = nullptr;
  };

  // InvalidArgument for a bad config, NotFound for an unknown policy.
  static absl::StatusOr<std::unique_ptr<AgentLoop>> Create(AgentConfig config,
                                                           Deps deps);

  // One period.  Errors are also kept in status().last_error; the loop
  // goes on after any of them.
  absl::Status Tick();

  const AgentStatus& status() const { return status_; }
  nlohmann::json StatusJson() const;
  // One control request line -> one reply line (no newline).
  std::string HandleControl(std::string_view line);
  absl::Status Apply(const ControlRequest& request, nlohmann::json* reply);
  // Prometheus text exposition format 0.0.4.
  std::string MetricsText() const;

  const AgentConfig& config() const { return config_; }

 private:
  struct VmRecord {
    StatsDecoder decoder;
    bool ever_read = false;
    std::string device_id;
    uint32_t fmem_node = 0;
    uint64_t fmem_node_bytes = 0;
    uint64_t guest_bytes = 0;
    VmTierState state;
    VmConfig config;
    std::optional<PressureLevel> written_pressure;
    PressureLevel pressure = PressureLevel::kNone;
    uint64_t decode_errors = 0;
    std::string decode_error;
    uint64_t target_sets = 0;
    uint64_t target_set_errors = 0;
    uint64_t timeouts = 0;
    std::string error;
    std::string status_state = "unreachable";
    std::string last_logged_telemetry_error;
    std::string residency_error;
    std::string last_logged_residency_error;
    bool over_target = false;
  };

  AgentLoop(AgentConfig config, Deps deps, std::unique_ptr<AgentCore> core);
  VmConfig ConfigFor(const VmEntry& e, uint64_t fmem_node_bytes) const;
  void ReadVm(const VmEntry& e, VmRecord& rec, absl::Time now);
  // Sets rec.state.fmem_resident_bytes (or resets it and says why).
  void MeasureResidency(const VmEntry& e, VmRecord& rec);
  void RefreshStatus(absl::Time now, uint64_t host_free);

  AgentConfig config_;
  Deps deps_;
  std::unique_ptr<AgentCore> core_;
  TelemetryStore telemetry_;
  std::map<VmId, VmRecord> vms_;
  std::map<VmId, VmEntry> present_;  // this tick's source entries
  std::map<VmId, VmSettings> runtime_;  // from set / vm-event
  AgentStatus status_;
  std::string last_logged_error_;
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_DAEMON_AGENT_LOOP_H_

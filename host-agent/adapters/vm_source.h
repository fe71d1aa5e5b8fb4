// VmSource: which VMs exist on this host, and for each a monitor channel
// that runs QMP commands on its QEMU.  Two implementations:
//   * QmpDirVmSource (vm_source_qmp_dir.h): a directory of QMP unix
//     sockets, `<dir>/<vm-name>.sock`, one QmpClient per VM (plain QEMU).
//   * LibvirtVmSource (libvirt/libvirt_vm_source.h): running libvirt
//     domains, commands through virDomainQemuMonitorCommand (libvirt owns
//     the QMP socket), operator settings from the domain metadata.
// The agent loop only sees this interface; tests use the real QMP-dir
// source against in-process fake QMP servers, and the libvirt source with
// an injected monitor.
//
// Thread-safety: not synchronized; the agent loop owns its source.
#ifndef TIERVM_HOST_AGENT_ADAPTERS_VM_SOURCE_H_
#define TIERVM_HOST_AGENT_ADAPTERS_VM_SOURCE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/qmp/hballoon_qmp.h"
#include "core/vm_model.h"
#include "nlohmann/json.hpp"

namespace tiervm::agent {

// Operator settings for one VM that a source may carry (libvirt metadata,
// a hook's vm-event).  Unset members fall back to the agent's config.
struct VmSettings {
  std::optional<uint64_t> min_fmem_bytes;
  std::optional<uint64_t> max_fmem_bytes;
  std::optional<uint32_t> weight;

  // Members set in `over` replace ours.
  void MergeFrom(const VmSettings& over) {
    if (over.min_fmem_bytes) min_fmem_bytes = over.min_fmem_bytes;
    if (over.max_fmem_bytes) max_fmem_bytes = over.max_fmem_bytes;
    if (over.weight) weight = over.weight;
  }
  friend bool operator==(const VmSettings&, const VmSettings&) = default;
};

// One QMP command channel to one QEMU.  Status codes as QmpClient's
// (qmp_client.h): Unavailable, DeadlineExceeded, DataLoss, Unimplemented,
// NotFound, FailedPrecondition.
class VmMonitor {
 public:
  virtual ~VmMonitor() = default;
  // Returns the `return` value of `command`.  `arguments`: object or null.
  virtual absl::StatusOr<nlohmann::json> Execute(
      std::string_view command, const nlohmann::json& arguments,
      int timeout_ms) = 0;
  // The QEMU process's pid, when the channel knows it (the QMP-dir
  // source: the socket's peer after a command connected it).  The agent
  // measures the VM's resident FMEM from it; nullopt: not measured.
  virtual std::optional<int> ProcessId() const { return std::nullopt; }
};

struct VmEntry {
  VmId id;
  VmMonitor* monitor = nullptr;  // owned by the source; valid until Refresh
  VmSettings settings;           // what the source knows (may be empty)
};

class VmSource {
 public:
  virtual ~VmSource() = default;

  // Re-discovers the VMs (rescans the directory, lists domains).  An error
  // means discovery failed as a whole; the previous list is kept.
  virtual absl::Status Refresh() = 0;
  // The VMs found by the last Refresh(), sorted by id.
  virtual std::vector<VmEntry> Vms() = 0;

  // A lifecycle hook says a VM started (with its QMP socket when the hook
  // knows it) or stopped.  Called while the hook waits for the agent's
  // answer, so implementations must not block on the VM (no libvirt call
  // about it); discovery work waits for the next Refresh().
  // InvalidArgument for a bad name or an unusable socket.
  virtual absl::Status NotifyStarted(const VmId& id,
                                     const std::string& qmp_socket) = 0;
  virtual void NotifyStopped(const VmId& id) = 0;

  // "qmp-dir:/run/tiervm/qmp", "libvirt:qemu:///system" (for logs/status).
  virtual std::string Describe() const = 0;
};

// The virtio-hballoon commands over any monitor (hballoon_qmp.h semantics:
// the reply is validated by ParseQueryHballoon; setters expect `{}`).
absl::StatusOr<std::vector<qmp::HballoonInfo>> QueryHballoon(
    VmMonitor& monitor, int timeout_ms);
absl::Status SetHballoonTarget(VmMonitor& monitor, std::string_view device_id,
                               uint32_t node, uint64_t balloon_target_bytes,
                               int timeout_ms);
absl::Status SetHballoonPressure(VmMonitor& monitor,
                                 std::string_view device_id,
                                 PressureLevel level, int timeout_ms);

// A VM name usable as an id, a file name and a metrics label: 1..64 bytes
// of [A-Za-z0-9._-], not starting with '.'.
bool IsValidVmName(std::string_view name);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_ADAPTERS_VM_SOURCE_H_

// LibvirtVmSource: the running libvirt domains are the VMs.  libvirt owns
// each domain's QMP socket, so commands go through
// virDomainQemuMonitorCommand; operator settings come from the domain
// metadata (tiering_metadata.h), read when a domain is first seen and again
// when a hook announces it.
//
// Lifecycle: discovery is polled — every Refresh() (each agent period)
// lists the running domains, so a start/stop is seen within one period
// even without the hook.  A hook's vm-event `started` only marks the
// domain's metadata for a re-read at the next Refresh: libvirt runs hooks
// while it holds the domain, so NotifyStarted/NotifyStopped never call
// libvirt (the agent answers the hook first; libvirt-hooks/README.md).  (Polling needs no libvirt event-loop thread, and a list call per
// period is cheap next to the per-VM query-hballoon.)
//
// Everything libvirt-specific sits behind LibvirtApi so that the source is
// unit-tested with an injected fake; RealLibvirtApi (libvirt_api_real.cc)
// is the one linking libvirt.
//
// Owns: its LibvirtApi and one monitor object per domain.
// Thread-safety: not synchronized; one agent loop.
#ifndef TIERVM_HOST_AGENT_ADAPTERS_LIBVIRT_LIBVIRT_VM_SOURCE_H_
#define TIERVM_HOST_AGENT_ADAPTERS_LIBVIRT_LIBVIRT_VM_SOURCE_H_

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "adapters/vm_source.h"

namespace tiervm::agent {

// The few libvirt calls the source needs.
class LibvirtApi {
 public:
  virtual ~LibvirtApi() = default;
  // Names of the running domains.  Unavailable if libvirtd is unreachable
  // (implementations reconnect on the next call).
  virtual absl::StatusOr<std::vector<std::string>> ListRunning() = 0;
  // virDomainQemuMonitorCommand: `command_json` is a full QMP command
  // object; returns libvirt's reply text (`{"return":..,"id":..}` or
  // `{"error":..}`).
  virtual absl::StatusOr<std::string> MonitorCommand(
      const std::string& domain, const std::string& command_json) = 0;
  // virDomainGetMetadata(ELEMENT, kTierVmXmlNs); nullopt if the domain has
  // none.
  virtual absl::StatusOr<std::optional<std::string>> GetTieringMetadata(
      const std::string& domain) = 0;
  virtual std::string uri() const = 0;
  // The domain's QEMU pid, for measuring its memory; nullopt when unknown.
  // libvirt has no API for it: the real one reads the pidfile libvirtd
  // keeps for qemu:///system domains, /run/libvirt/qemu/<name>.pid.
  virtual std::optional<int> QemuPid(const std::string& domain) {
    (void)domain;
    return std::nullopt;
  }
};

// A pidfile's text ("1234\n") -> the pid; nullopt unless one positive
// decimal number, whitespace around it allowed.
std::optional<int> ParsePidFile(absl::string_view text);

// Connects lazily to `uri` (e.g. "qemu:///system").
std::unique_ptr<LibvirtApi> MakeRealLibvirtApi(const std::string& uri);

class LibvirtVmSource final : public VmSource {
 public:
  explicit LibvirtVmSource(std::unique_ptr<LibvirtApi> api) : api_(std::move(api)) {}

  absl::Status Refresh() override;
  std::vector<VmEntry> Vms() override;
  // Marks the domain's metadata for a re-read at the next Refresh() (no
  // libvirt call here).  `qmp_socket` is ignored: libvirt owns the monitor.
  absl::Status NotifyStarted(const VmId& id,
                             const std::string& qmp_socket) override;
  void NotifyStopped(const VmId& id) override { vms_.erase(id); }
  std::string Describe() const override { return "libvirt:" + api_->uri(); }

  // Last metadata error of a domain (OK if none), for status and logs.
  absl::Status MetadataStatus(const VmId& id) const;

 private:
  class Monitor final : public VmMonitor {
   public:
    Monitor(LibvirtApi* api, std::string domain)
        : api_(api), domain_(std::move(domain)) {}
    // `timeout_ms` cannot be applied: libvirt bounds monitor commands by
    // its own job timeout.
    absl::StatusOr<nlohmann::json> Execute(std::string_view command,
                                           const nlohmann::json& arguments,
                                           int timeout_ms) override;
    std::optional<int> ProcessId() const override { return api_->QemuPid(domain_); }

   private:
    LibvirtApi* api_;
    std::string domain_;
  };
  struct Vm {
    std::unique_ptr<Monitor> monitor;
    VmSettings settings;
    absl::Status metadata_status;
  };
  void ReadMetadata(const VmId& id, Vm& vm);

  std::unique_ptr<LibvirtApi> api_;
  std::map<VmId, Vm> vms_;
  std::set<VmId> reread_;  // metadata to re-read at the next Refresh
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_ADAPTERS_LIBVIRT_LIBVIRT_VM_SOURCE_H_

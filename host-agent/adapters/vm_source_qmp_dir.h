// QmpDirVmSource: VMs are the QMP unix sockets in one directory,
// `<dir>/<vm-name>.sock` (symlinks to QEMU's `-qmp unix:...` sockets are
// fine), plus sockets announced by a hook (NotifyStarted).  Refresh()
// rescans the directory: new sockets get a QmpClient, vanished ones are
// dropped.  Each client has its own timeouts and reconnects on the next
// command after a drop (QmpClient's auto_reconnect).
//
// Owns: one QmpClient per VM.
// Thread-safety: not synchronized; one agent loop.
#ifndef TIERVM_HOST_AGENT_ADAPTERS_VM_SOURCE_QMP_DIR_H_
#define TIERVM_HOST_AGENT_ADAPTERS_VM_SOURCE_QMP_DIR_H_

#include <map>
#include <memory>
#include <string>

#include "adapters/qmp/qmp_client.h"
#include "adapters/vm_source.h"

namespace tiervm::agent {

struct QmpDirOptions {
  std::string dir;
  int connect_timeout_ms = 2000;
  int command_timeout_ms = 2000;
};

class QmpDirVmSource final : public VmSource {
 public:
  explicit QmpDirVmSource(QmpDirOptions options) : options_(std::move(options)) {}

  // NotFound if the directory cannot be read (the previous list is kept).
  absl::Status Refresh() override;
  std::vector<VmEntry> Vms() override;
  // Adds `qmp_socket` (must exist and be a socket) under `id` until
  // NotifyStopped; with an empty socket, just rescans.
  absl::Status NotifyStarted(const VmId& id,
                             const std::string& qmp_socket) override;
  void NotifyStopped(const VmId& id) override;
  std::string Describe() const override { return "qmp-dir:" + options_.dir; }

 private:
  class Monitor final : public VmMonitor {
   public:
    explicit Monitor(qmp::QmpClientOptions o) : client_(std::move(o)) {}
    absl::StatusOr<nlohmann::json> Execute(std::string_view command,
                                           const nlohmann::json& arguments,
                                           int timeout_ms) override {
      return client_.Execute(command, arguments, timeout_ms);
    }
    std::optional<int> ProcessId() const override { return client_.peer_pid(); }
    qmp::QmpClient client_;
  };
  struct Vm {
    std::string socket;
    bool announced = false;  // by NotifyStarted: survives rescans
    std::unique_ptr<Monitor> monitor;
  };

  void Ensure(const VmId& id, const std::string& socket, bool announced);

  QmpDirOptions options_;
  std::map<VmId, Vm> vms_;
};

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_ADAPTERS_VM_SOURCE_QMP_DIR_H_

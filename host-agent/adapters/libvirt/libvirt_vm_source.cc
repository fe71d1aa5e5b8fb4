#include "adapters/libvirt/libvirt_vm_source.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "adapters/libvirt/tiering_metadata.h"
#include "adapters/qmp/qmp_client.h"

namespace tiervm::agent {

using json = nlohmann::json;

std::optional<int> ParsePidFile(absl::string_view text) {
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &pid) || pid <= 0) {
    return std::nullopt;
  }
  return pid;
}

absl::StatusOr<json> LibvirtVmSource::Monitor::Execute(
    std::string_view command, const json& arguments, int /*timeout_ms*/) {
  json cmd = {{"execute", std::string(command)}};
  if (!arguments.is_null()) cmd["arguments"] = arguments;
  absl::StatusOr<std::string> reply = api_->MonitorCommand(domain_, cmd.dump());
  if (!reply.ok()) return reply.status();
  // libvirt hands back QEMU's reply line; it is as untrusted as a socket's.
  absl::StatusOr<qmp::QmpMessage> msg =
      qmp::ParseQmpMessage(*reply, size_t{1} << 20);
  if (!msg.ok()) return msg.status();
  switch (msg->kind) {
    case qmp::QmpMessageKind::kReturn:
      return std::move(msg->value);
    case qmp::QmpMessageKind::kError:
      return qmp::QmpErrorToStatus(command, msg->error_class, msg->error_desc);
    default:
      return absl::DataLossError(absl::StrCat(
          "libvirt monitor reply to ", std::string(command),
          " is not a return or error"));
  }
}

void LibvirtVmSource::ReadMetadata(const VmId& id, Vm& vm) {
  vm.settings = {};
  vm.metadata_status = absl::OkStatus();
  absl::StatusOr<std::optional<std::string>> xml = api_->GetTieringMetadata(id);
  if (!xml.ok()) {
    vm.metadata_status = xml.status();
    return;
  }
  if (!xml->has_value()) return;
  absl::StatusOr<VmSettings> s = ParseTieringMetadata(**xml);
  if (!s.ok()) {
    vm.metadata_status = s.status();
    return;
  }
  vm.settings = *s;
}

absl::Status LibvirtVmSource::Refresh() {
  absl::StatusOr<std::vector<std::string>> names = api_->ListRunning();
  if (!names.ok()) return names.status();
  std::set<VmId> seen;
  for (const std::string& name : *names) {
    if (!IsValidVmName(name)) continue;  // cannot be a label/file name
    seen.insert(name);
    if (auto it = vms_.find(name); it != vms_.end()) {
      if (reread_.contains(name)) ReadMetadata(name, it->second);
      continue;
    }
    Vm vm;
    vm.monitor = std::make_unique<Monitor>(api_.get(), name);
    ReadMetadata(name, vm);
    vms_.emplace(name, std::move(vm));
  }
  for (auto it = vms_.begin(); it != vms_.end();) {
    it = seen.contains(it->first) ? std::next(it) : vms_.erase(it);
  }
  reread_.clear();
  return absl::OkStatus();
}

std::vector<VmEntry> LibvirtVmSource::Vms() {
  std::vector<VmEntry> out;
  for (auto& [id, vm] : vms_) out.push_back({id, vm.monitor.get(), vm.settings});
  return out;
}

absl::Status LibvirtVmSource::NotifyStarted(const VmId& id,
                                            const std::string& /*qmp_socket*/) {
  if (!IsValidVmName(id)) {
    return absl::InvalidArgumentError(absl::StrCat("bad VM name '", id, "'"));
  }
  reread_.insert(id);
  return absl::OkStatus();
}

absl::Status LibvirtVmSource::MetadataStatus(const VmId& id) const {
  auto it = vms_.find(id);
  return it == vms_.end() ? absl::OkStatus() : it->second.metadata_status;
}

}  // namespace tiervm::agent

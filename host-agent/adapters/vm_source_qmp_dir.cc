#include "adapters/vm_source_qmp_dir.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tiervm::agent {

namespace {
bool IsSocket(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}
}  // namespace

void QmpDirVmSource::Ensure(const VmId& id, const std::string& socket,
                            bool announced) {
  auto it = vms_.find(id);
  if (it != vms_.end() && it->second.socket == socket) {
    it->second.announced = it->second.announced || announced;
    return;
  }
  qmp::QmpClientOptions o;
  o.socket_path = socket;
  o.connect_timeout_ms = options_.connect_timeout_ms;
  o.default_timeout_ms = options_.command_timeout_ms;
  o.auto_reconnect = true;
  Vm vm;
  vm.socket = socket;
  vm.announced = announced;
  vm.monitor = std::make_unique<Monitor>(std::move(o));
  vms_[id] = std::move(vm);
}

absl::Status QmpDirVmSource::Refresh() {
  DIR* d = ::opendir(options_.dir.c_str());
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot read QMP socket dir ",
                                            options_.dir, ": ",
                                            std::strerror(errno)));
  }
  std::set<VmId> seen;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (!absl::EndsWith(name, ".sock")) continue;
    const std::string id = name.substr(0, name.size() - 5);
    if (!IsValidVmName(id)) continue;
    const std::string path = options_.dir + "/" + name;
    if (!IsSocket(path)) continue;  // follows symlinks; dangling ones drop
    seen.insert(id);
    Ensure(id, path, false);
  }
  ::closedir(d);
  for (auto it = vms_.begin(); it != vms_.end();) {
    const bool keep = seen.contains(it->first) ||
                      (it->second.announced && IsSocket(it->second.socket));
    it = keep ? std::next(it) : vms_.erase(it);
  }
  return absl::OkStatus();
}

std::vector<VmEntry> QmpDirVmSource::Vms() {
  std::vector<VmEntry> out;
  out.reserve(vms_.size());
  for (auto& [id, vm] : vms_) out.push_back({id, vm.monitor.get(), {}});
  return out;
}

absl::Status QmpDirVmSource::NotifyStarted(const VmId& id,
                                           const std::string& qmp_socket) {
  if (!IsValidVmName(id)) {
    return absl::InvalidArgumentError(absl::StrCat("bad VM name '", id, "'"));
  }
  if (qmp_socket.empty()) return Refresh();
  if (qmp_socket[0] != '/' || !IsSocket(qmp_socket)) {
    return absl::InvalidArgumentError(
        absl::StrCat("qmp_socket ", qmp_socket, " is not an absolute path to a socket"));
  }
  Ensure(id, qmp_socket, true);
  return absl::OkStatus();
}

void QmpDirVmSource::NotifyStopped(const VmId& id) { vms_.erase(id); }

}  // namespace tiervm::agent

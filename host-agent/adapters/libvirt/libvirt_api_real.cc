// RealLibvirtApi: LibvirtApi over libvirt's C API (libvirt, libvirt-qemu).
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "adapters/libvirt/libvirt_vm_source.h"
#include "adapters/libvirt/tiering_metadata.h"
#include "adapters/procfs/host_procfs.h"

namespace tiervm::agent {
namespace {

std::string LastError() {
  const virError* e = virGetLastError();
  return e && e->message ? e->message : "unknown libvirt error";
}

class RealLibvirtApi final : public LibvirtApi {
 public:
  explicit RealLibvirtApi(std::string uri) : uri_(std::move(uri)) {
    // libvirt prints errors to stderr by default; we report them instead.
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
  }
  ~RealLibvirtApi() override {
    if (conn_) virConnectClose(conn_);
  }

  absl::StatusOr<std::vector<std::string>> ListRunning() override {
    absl::Status c = Connect();
    if (!c.ok()) return c;
    virDomainPtr* doms = nullptr;
    const int n = virConnectListAllDomains(conn_, &doms,
                                           VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) return Drop("list domains");
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) {
      if (const char* name = virDomainGetName(doms[i])) names.emplace_back(name);
      virDomainFree(doms[i]);
    }
    std::free(doms);
    return names;
  }

  absl::StatusOr<std::string> MonitorCommand(const std::string& domain,
                                             const std::string& cmd) override {
    absl::StatusOr<virDomainPtr> d = Lookup(domain);
    if (!d.ok()) return d.status();
    char* result = nullptr;
    const int rc = virDomainQemuMonitorCommand(*d, cmd.c_str(), &result, 0);
    // Read the error before virDomainFree resets it.
    const std::string err = rc < 0 ? LastError() : "";
    virDomainFree(*d);
    if (rc < 0) {
      return absl::UnavailableError(
          absl::StrCat("libvirt monitor command on ", domain, ": ", err));
    }
    std::string out = result ? result : "";
    std::free(result);
    return out;
  }

  absl::StatusOr<std::optional<std::string>> GetTieringMetadata(
      const std::string& domain) override {
    absl::StatusOr<virDomainPtr> d = Lookup(domain);
    if (!d.ok()) return d.status();
    const std::string ns(kTierVmXmlNs);
    char* xml = virDomainGetMetadata(*d, VIR_DOMAIN_METADATA_ELEMENT,
                                     ns.c_str(), VIR_DOMAIN_AFFECT_CURRENT);
    // Read the error before virDomainFree resets it.
    const virError* e = xml == nullptr ? virGetLastError() : nullptr;
    const bool none = e != nullptr && e->code == VIR_ERR_NO_DOMAIN_METADATA;
    const std::string err = xml == nullptr ? LastError() : "";
    virDomainFree(*d);
    if (xml == nullptr) {
      if (none) return std::optional<std::string>();
      return absl::UnavailableError(absl::StrCat("metadata of ", domain, ": ", err));
    }
    std::string out = xml;
    std::free(xml);
    return std::optional<std::string>(std::move(out));
  }

  std::string uri() const override { return uri_; }

  std::optional<int> QemuPid(const std::string& domain) override {
    // libvirtd's state directory for the system instance (a session
    // instance keeps its own under $XDG_RUNTIME_DIR; not looked for).
    // Domain names reach here only as valid VM names: no '/'.
    if (uri_ != "qemu:///system") return std::nullopt;
    absl::StatusOr<std::string> text =
        ReadSmallFile(absl::StrCat("/run/libvirt/qemu/", domain, ".pid"), 64);
    if (!text.ok()) return std::nullopt;
    return ParsePidFile(*text);
  }

 private:
  absl::Status Connect() {
    if (conn_ && virConnectIsAlive(conn_) == 1) return absl::OkStatus();
    if (conn_) {
      virConnectClose(conn_);
      conn_ = nullptr;
    }
    conn_ = virConnectOpen(uri_.c_str());
    if (!conn_) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to libvirt ", uri_, ": ", LastError()));
    }
    return absl::OkStatus();
  }
  absl::Status Drop(const char* what) {
    const std::string msg = LastError();
    if (conn_ && virConnectIsAlive(conn_) != 1) {
      virConnectClose(conn_);
      conn_ = nullptr;
    }
    return absl::UnavailableError(absl::StrCat("libvirt ", what, ": ", msg));
  }
  absl::StatusOr<virDomainPtr> Lookup(const std::string& domain) {
    absl::Status c = Connect();
    if (!c.ok()) return c;
    virDomainPtr d = virDomainLookupByName(conn_, domain.c_str());
    if (!d) {
      return absl::NotFoundError(
          absl::StrCat("libvirt domain ", domain, ": ", LastError()));
    }
    return d;
  }

  std::string uri_;
  virConnectPtr conn_ = nullptr;
};

}  // namespace

std::unique_ptr<LibvirtApi> MakeRealLibvirtApi(const std::string& uri) {
  return std::make_unique<RealLibvirtApi>(uri);
}

}  // namespace tiervm::agent

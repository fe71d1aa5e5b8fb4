// The libvirt qemu hook (installed as /etc/libvirt/hooks/qemu.d/tiervm).
// libvirt runs it as `tiervm <domain> <operation> <sub-op> <extra>` with
// the domain XML on stdin (research/ecosystem.md §1.1):
//   prepare  : checks a tiered domain against the host (host nodes exist,
//              sizes fit their MemTotal) and that the domain is still the
//              converter's output; non-zero exit + stderr refuses the start
//              and libvirt shows the message.
//   started, stopped, release : tell the agent (vm-event on its control
//              socket, bounded by a timeout); a missing or failing agent is
//              a warning, never a failure.
//   anything else : nothing, exit 0.
// Domains without <tiervm:tiering> metadata are ignored.  The hook never
// calls back into libvirt (that deadlocks) and never writes to stdout
// (for migrate/restore libvirt would take stdout as the new XML).
// Thread-compatible.
#ifndef TIERVM_LIBVIRT_HOOKS_HOOK_HOOK_H_
#define TIERVM_LIBVIRT_HOOKS_HOOK_HOOK_H_

#include <optional>
#include <ostream>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "hook/agent_client.h"

namespace tiervm::libvirt {

struct HookOptions {
  std::string sysfs_root = "/sys";
  std::string agent_socket = kDefaultAgentSocket;
  int agent_timeout_ms = 2000;
};

// `args`: argv without argv[0].  Returns the exit code.
int RunHook(const std::vector<std::string>& args, absl::string_view domain_xml,
            const HookOptions& options, std::ostream& err);

// The vm-event line for `event` ("started", "stopped", "release"); sizes
// and weight only with "started".
std::string VmEventLine(const std::string& vm, const std::string& event,
                        std::optional<uint64_t> min_fmem_bytes,
                        std::optional<uint64_t> max_fmem_bytes,
                        std::optional<uint32_t> weight);

// Reads the hook's optional config file: `key = value` lines (`#`
// comments) with keys agent_socket, agent_timeout_ms, sysfs_root.  A
// missing file leaves `options` as is; a malformed one is an error.
absl::Status ReadHookConfig(const std::string& path, HookOptions* options);

}  // namespace tiervm::libvirt

#endif  // TIERVM_LIBVIRT_HOOKS_HOOK_HOOK_H_

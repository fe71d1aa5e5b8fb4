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
// Domains without <tiervm:tiering> metadata are ignored, and so is XML the
// hook cannot read (malformed, a DOCTYPE, over kMaxDomainXmlBytes): a
// hook failure would block every domain's start, and libvirt has already
// parsed the XML it passes.  Such XML is refused only where it matters —
// at prepare, when its text names the TierVM namespace (a tiered domain
// must not start unchecked); elsewhere it is a warning on stderr, exit 0.
// The hook never calls back into libvirt (that deadlocks) and never writes
// to stdout (for migrate/restore libvirt would take stdout as the new XML).
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

// The most domain XML the hook reads.  libvirt's own domain XML is tens of
// KiB, and virsh refuses XML files above 10 MiB (VSH_MAX_XML_FILE), so no
// domain libvirt can define is cut; the bound keeps a runaway writer from
// taking the host's memory while libvirt holds the domain.
inline constexpr size_t kMaxDomainXmlBytes = size_t{10} << 20;
// How long the hook waits for stdin to reach EOF.  libvirt writes the
// whole XML at once; a writer that stalls must not stall the hook.
inline constexpr int kStdinTimeoutMs = 10'000;

struct HookInput {
  std::string xml;         // at most the bound
  bool truncated = false;  // more than the bound was there (not read)
  bool timed_out = false;  // stdin did not reach EOF in time
};

// Reads at most `max_bytes` from `fd` within `timeout_ms`.  Stops at the
// bound instead of draining the rest: libvirt ignores EPIPE from a hook
// that closes its stdin early (vircommand.c, virCommandProcessIO).
HookInput ReadBoundedInput(int fd, size_t max_bytes = kMaxDomainXmlBytes,
                           int timeout_ms = kStdinTimeoutMs);

// `args`: argv without argv[0].  Returns the exit code.
int RunHook(const std::vector<std::string>& args, const HookInput& input,
            const HookOptions& options, std::ostream& err);
// The same for XML read whole.
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
